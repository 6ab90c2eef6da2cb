"""deploy/ cannot be started here (no Docker engine): check what can be checked.

The compose file parses; every fraudstream service runs a real CLI command whose
options parse (and each of those commands is exercised elsewhere in the suite); the
Prometheus targets are the ports the services listen on; the Grafana dashboard only
queries metrics the service exports.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from fraudstream.cli import app
from fraudstream.monitoring import Metrics

DEPLOY = Path(__file__).parent.parent / "deploy"
# Each command a deployed service runs, and the test that runs it for real.
EXERCISED = {
    "topics": "tests/integration/test_cli_kafka.py::test_topics_and_produce",
    "produce": "tests/integration/test_cli_kafka.py::test_topics_and_produce",
    "serve": "tests/test_cli_live.py, tests/integration/test_crash.py",
    "simulate": "tests/test_cli.py",
    "train": "tests/test_cli_model.py",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "docker-compose.yml").read_text()))


def fraudstream_commands(service: dict[str, Any]) -> list[list[str]]:
    """The fraudstream invocations of a service, as argument lists (after `fraudstream`)."""
    command = service.get("command", [])
    if service.get("entrypoint") == ["sh", "-c"]:
        script = command[0] if isinstance(command, list) else command
        found = re.findall(r"fraudstream ([^&|()]+)", script)
        return [shlex.split(part) for part in found]
    return [list(command)]


def test_the_stack_needs_api_keys(compose: dict[str, Any]) -> None:
    keys = compose["x-fraudstream"]["environment"]["FRAUDSTREAM_API_KEYS"]
    assert keys.startswith("${FRAUDSTREAM_API_KEYS:?")  # compose refuses to start without them


def test_compose_parses_and_uses_the_image(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"kafka", "redis", "postgres", "prometheus", "grafana", "api", "worker", "producer"} <= set(services)
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert services["worker"]["deploy"]["replicas"] >= 2
    ours = [name for name, s in services.items() if s.get("image") == "fraudstream:latest"]
    assert set(ours) == {"topics", "trainer", "api", "worker", "producer"}


def test_every_service_command_is_a_real_cli_command(compose: dict[str, Any]) -> None:
    group: Any = typer.main.get_command(app)
    seen = set()
    for name, service in compose["services"].items():
        if service.get("image") != "fraudstream:latest":
            continue
        for args in fraudstream_commands(service):
            assert args, name
            command = group.commands.get(args[0])
            assert command is not None, f"{name}: no command {args[0]!r}"
            command.make_context(args[0], args[1:])  # raises on an unknown option or a bad value
            seen.add(args[0])
    assert seen == set(EXERCISED)


def test_prometheus_scrapes_the_ports_the_services_listen_on(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    api = compose["services"]["api"]["command"]
    assert jobs["fraudstream-api"]["static_configs"][0]["targets"] == [f"api:{api[api.index('--metrics-port') + 1]}"]
    assert "9100:9100" not in compose["services"]["api"].get("ports", [])  # metrics stay inside
    worker = compose["services"]["worker"]["command"]
    assert jobs["fraudstream-workers"]["dns_sd_configs"][0]["port"] == int(worker[worker.index("--metrics-port") + 1])


def exported_names() -> set[str]:
    names = set()
    for family in Metrics().registry.collect():
        if family.type == "counter":
            names |= {f"{family.name}_total", f"{family.name}_created"}
        elif family.type == "histogram":
            names |= {f"{family.name}_{s}" for s in ("bucket", "count", "sum", "created")}
        else:
            names.add(family.name)
    return names


def test_grafana_queries_use_exported_metrics() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "fraudstream.json").read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"fraudstream_[a-z0-9_]+", target["expr"])
    }
    assert queried, "the dashboard queries nothing"
    assert queried <= exported_names(), queried - exported_names()
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in ("throughput", "fraud rate", "latency", "lag", "outcome"):
        assert topic in titles
    provisioning = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert provisioning["datasources"][0]["uid"] == dashboard["panels"][0]["datasource"]["uid"]


def test_dockerfile_is_multistage_and_not_root() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert text.count("FROM ") == 2
    assert "USER fraudstream" in text and "[kafka,redis,postgres]" in text


def test_prometheus_loads_alert_rules_on_metrics_the_service_exports(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    mounted = compose["services"]["prometheus"]["volumes"]
    assert (
        config["rule_files"] == ["/etc/prometheus/alerts.yml"]
        and "./alerts.yml:/etc/prometheus/alerts.yml:ro" in mounted
    )
    exported = {metric.name for metric in Metrics().registry.collect()}
    expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    assert any("fraudstream_feature_psi) > 0.25" in e for e in expressions)
    for expression in expressions:
        names = set(re.findall(r"fraudstream_[a-z_]+", expression))
        assert names and all(n.removesuffix("_total") in exported for n in names), expression
