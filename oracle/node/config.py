"""The oracle node's configuration: one TOML file, validated field by field.

Every mistake raises `UsageError` naming the offending field (`section.key`), so the CLI prints one line and
exits 2. Missing fields take the dataclass defaults below; `default_config.toml`, which `ecoai oracle init` writes
out, spells out the same values with comments.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from oracle.chain.deployment import default_path
from oracle.errors import UsageError
from oracle.measure import SourceUnavailable, check_source_spec, check_work_spec

DEFAULT_CONFIG_TEXT = (Path(__file__).with_name("default_config.toml")).read_text()
LOCAL_NETWORK = "ethereum:local"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
# Defaults that depend on the network. A local anvil mines on demand and never reorganises, so one block is final
# (and waiting for more would stall an idle chain); a public testnet does reorganise: 12 blocks (~2.5 min on
# Sepolia) before an epoch counts as accepted.
LOCAL_CONFIRMATIONS = 1
REMOTE_CONFIRMATIONS = 12
# Fee caps: the node never signs above them, whatever the RPC endpoint suggests (a lying or broken endpoint
# must not make it spend the key's balance). A submit uses ~0.3-0.5 M gas; 1.5 M leaves room for a repricing.
# Local anvil starts at 1 gwei; a testnet's fees spike, so its caps are higher, still bounded:
# 1.5 M gas x 100 gwei = 0.15 ETH at most per submit.
LOCAL_FEE_CAPS = (50.0, 5.0)  # (max fee per gas, max priority fee), gwei
REMOTE_FEE_CAPS = (100.0, 5.0)
DEFAULT_MAX_GAS_PER_SUBMIT = 1_500_000


@dataclass(frozen=True)
class ChainConfig:
    network: str = LOCAL_NETWORK
    rpc_url: str = "http://127.0.0.1:8545"
    deployment: Path | None = None
    # Blocks on top of a submit's block before the epoch counts as accepted. parse_config fills in the
    # network's default (LOCAL_CONFIRMATIONS / REMOTE_CONFIRMATIONS) when the file does not say.
    confirmations: int = 1

    def deployment_path(self) -> Path:
        """The configured file, else `<state>/deployments/<network>.json` (`ethereum:local` → local.json)."""
        if self.deployment is not None:
            return self.deployment
        return default_path(self.network)

    @property
    def is_local(self) -> bool:
        return self.network == LOCAL_NETWORK and urlparse(self.rpc_url).hostname in LOOPBACK_HOSTS


@dataclass(frozen=True)
class KeyConfig:
    account: str = "dev:1"
    passphrase_env: str = "ECOAI_KEY_PASSPHRASE"
    # A file holding the passphrase (e.g. a mounted Kubernetes Secret); when set it wins over passphrase_env.
    passphrase_file: Path | None = None


@dataclass(frozen=True)
class NodeSection:
    hardware_class: str = "H200"
    region: str = "KR"
    epoch_seconds: int = 0
    # The efficiency class GreenProof admitted the node into ("H200/encoder-bf16/item"); empty: the chain's.
    class_id: str = ""


@dataclass(frozen=True)
class MeasureConfig:
    sources: tuple[str, ...] = ("auto",)
    sample_hz: float = 10.0
    work_sources: tuple[str, ...] = ("replay",)
    # Off a local loopback chain the node refuses replayed and estimated sources (energy or work) unless this
    # says so explicitly; the methods are public on chain either way.
    allow_unmeasured: bool = False
    # Where the replayed H200 trace starts playing (s into it): its first ~18 s are the warm-up before the
    # recorded load began (energy, almost no work), so the demo starts where the trace serves.
    replay_offset_s: float = 20.0


@dataclass(frozen=True)
class ExporterConfig:
    port: int = 9464
    # Loopback by default; a pod sets 0.0.0.0 so Prometheus and the kubelet's probes reach it on the pod IP.
    host: str = "127.0.0.1"
    # The kubelet's pod-resources socket, for the pod labels of GPU energy (oracle.measure.podresources); empty:
    # off (every pod label "unknown"). Polled every pod_resources_refresh_s while the exporter runs.
    pod_resources_socket: str = ""
    pod_resources_refresh_s: float = 10.0


@dataclass(frozen=True)
class SubmitConfig:
    max_backoff_s: float = 30.0
    max_defer_s: int = 0
    carbon_zone: str = "US-CAL"
    carbon_trace: str = ""
    max_fee_per_gas_gwei: float = LOCAL_FEE_CAPS[0]
    max_priority_fee_gwei: float = LOCAL_FEE_CAPS[1]
    max_gas_per_submit: int = DEFAULT_MAX_GAS_PER_SUBMIT
    # v2 batches: up to batch_size of the node's own proved epochs in one submitBatch (1 = single submits),
    # waiting at most batch_wait_s after the first for the batch to fill; or hand them to a relay.
    batch_size: int = 1
    batch_wait_s: float = 0.0
    relay_url: str = ""


@dataclass(frozen=True)
class OptimizeConfig:
    profile: str = ""
    latency_slo_ms: float = 0.0


@dataclass(frozen=True)
class NodeConfig:
    chain: ChainConfig = field(default_factory=ChainConfig)
    key: KeyConfig = field(default_factory=KeyConfig)
    node: NodeSection = field(default_factory=NodeSection)
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    exporter: ExporterConfig = field(default_factory=ExporterConfig)
    submit: SubmitConfig = field(default_factory=SubmitConfig)
    optimize: OptimizeConfig = field(default_factory=OptimizeConfig)


def _expect(section: dict[str, Any], name: str, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    if key not in section:
        return default
    value = section[key]
    # bool is an int in Python; a `true` where a number belongs is still a mistake.
    if isinstance(value, bool) and kind is not bool:
        raise UsageError(f"config field {name}.{key}: expected {_kind_name(kind)}, got {value!r}")
    if not isinstance(value, kind):
        raise UsageError(f"config field {name}.{key}: expected {_kind_name(kind)}, got {value!r}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "an integer", float: "a number", str: "a string", list: "a list", bool: "true/false"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _ascii_label(name: str, value: str) -> str:
    if (
        not value
        or not value.isascii()
        or len(value.encode()) > 32
        or not value.replace("-", "").replace("_", "").isalnum()
    ):
        raise UsageError(f"config field {name}: expected 1-32 ASCII letters/digits, got {value!r}")
    return value


def _path(section: dict[str, Any], name: str, key: str, base_dir: Path | None) -> Path | None:
    """<name>.<key>: an optional file path (~ expanded), relative to the config file's folder."""
    text = _expect(section, name, key, str, "")
    if not text:
        return None
    path = Path(text).expanduser()
    return base_dir / path if not path.is_absolute() and base_dir is not None else path


def _specs(m: dict[str, Any], key: str, default: Any, check: Callable[[str], Any], expected: str) -> tuple:
    """measure.<key>: one spec or a non-empty list of them, each checked by the measurement package (which owns
    the spellings and resolves "auto" when the node opens them)."""
    value = _expect(m, "measure", key, (str, list), default)
    specs = (value,) if isinstance(value, str) else tuple(value)
    if not specs:
        raise UsageError(f"config field measure.{key}: expected {expected}")
    for spec in specs:
        try:
            check(spec if isinstance(spec, str) else repr(spec))
        except SourceUnavailable as exc:
            raise UsageError(f"config field measure.{key}: {exc}") from None
    return specs


def parse_config(data: dict[str, Any], base_dir: Path | None = None) -> NodeConfig:
    """Validate a parsed TOML document into a `NodeConfig`; unknown sections or keys are errors too."""
    known = {
        "chain": {"network", "rpc_url", "deployment", "confirmations"},
        "key": {"account", "passphrase_env", "passphrase_file"},
        "node": {"hardware_class", "region", "epoch_seconds", "class_id"},
        "measure": {"sources", "sample_hz", "work_sources", "allow_unmeasured", "replay_offset_s"},
        "exporter": {"port", "host", "pod_resources_socket", "pod_resources_refresh_s"},
        "submit": {"max_backoff_s", "max_defer_s", "carbon_zone", "carbon_trace", "max_fee_per_gas_gwei",
                   "max_priority_fee_gwei", "max_gas_per_submit", "batch_size", "batch_wait_s", "relay_url"},
        "optimize": {"profile", "latency_slo_ms"},
    }
    for section_name, section in data.items():
        if section_name not in known:
            raise UsageError(f"config field {section_name}: unknown section (known: {', '.join(known)})")
        if not isinstance(section, dict):
            raise UsageError(f"config field {section_name}: expected a [{section_name}] table")
        for key in section:
            if key not in known[section_name]:
                raise UsageError(f"config field {section_name}.{key}: unknown field")
    c, k, n, m, e, s, o = (
        data.get(name, {}) for name in ("chain", "key", "node", "measure", "exporter", "submit", "optimize")
    )

    network = _expect(c, "chain", "network", str, ChainConfig.network)
    if ":" not in network:
        raise UsageError(
            f"config field chain.network: expected ecosystem:network such as ethereum:local, got {network!r}"
        )
    rpc_url = _expect(c, "chain", "rpc_url", str, ChainConfig.rpc_url)
    parsed = urlparse(rpc_url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UsageError(f"config field chain.rpc_url: expected an http(s) URL, got {rpc_url!r}")
    deployment = _path(c, "chain", "deployment", base_dir)
    confirmations = _expect(c, "chain", "confirmations", int, None)
    if confirmations is not None and confirmations < 1:
        raise UsageError(f"config field chain.confirmations: expected >= 1, got {confirmations}")

    account = _expect(k, "key", "account", str, KeyConfig.account)
    kind, _, rest = account.partition(":")
    if kind not in ("ape", "dev") or not rest or (kind == "dev" and not rest.isdigit()):
        raise UsageError(f"config field key.account: expected 'ape:<alias>' or 'dev:<index>', got {account!r}")
    passphrase_env = _expect(k, "key", "passphrase_env", str, KeyConfig.passphrase_env)
    if not passphrase_env.isidentifier():
        raise UsageError(
            f"config field key.passphrase_env: expected an environment variable name, got {passphrase_env!r}"
        )
    passphrase_file = _path(k, "key", "passphrase_file", base_dir)
    chain = ChainConfig(network, rpc_url, deployment, 1)
    if confirmations is None:
        confirmations = LOCAL_CONFIRMATIONS if chain.is_local else REMOTE_CONFIRMATIONS
    chain = ChainConfig(network, rpc_url, deployment, confirmations)
    if kind == "dev" and not chain.is_local:
        raise UsageError(
            "config field key.account: dev accounts are only for the local chain "
            f"(network {LOCAL_NETWORK} on a loopback rpc_url); use 'ape:<alias>'"
        )

    hardware_class = _ascii_label(
        "node.hardware_class", _expect(n, "node", "hardware_class", str, NodeSection.hardware_class)
    )
    region = _ascii_label("node.region", _expect(n, "node", "region", str, NodeSection.region))
    class_id = _expect(n, "node", "class_id", str, NodeSection.class_id)
    if class_id and (not class_id.isascii() or len(class_id.encode()) > 32):
        raise UsageError(f"config field node.class_id: expected at most 32 ASCII bytes, got {class_id!r}")
    epoch_seconds = _expect(n, "node", "epoch_seconds", int, NodeSection.epoch_seconds)
    if epoch_seconds < 0:
        raise UsageError(f"config field node.epoch_seconds: expected >= 0, got {epoch_seconds}")

    sources = _specs(m, "sources", "auto", check_source_spec, '"auto" or a non-empty list')
    sample_hz = float(_expect(m, "measure", "sample_hz", (int, float), MeasureConfig.sample_hz))
    if not 0.1 <= sample_hz <= 1000:
        raise UsageError(f"config field measure.sample_hz: expected 0.1..1000, got {sample_hz}")
    work_sources = _specs(m, "work_sources", list(MeasureConfig.work_sources), check_work_spec,
                          'a non-empty list (e.g. ["vllm:URL"])')
    allow_unmeasured = _expect(m, "measure", "allow_unmeasured", bool, MeasureConfig.allow_unmeasured)
    check_honest_sources(chain, sources, work_sources, allow_unmeasured)
    replay_offset_s = float(_expect(m, "measure", "replay_offset_s", (int, float), MeasureConfig.replay_offset_s))
    if not 0 <= replay_offset_s < 149:
        raise UsageError(f"config field measure.replay_offset_s: expected 0..149 (the trace's length), got "
                         f"{replay_offset_s}")

    port = _expect(e, "exporter", "port", int, ExporterConfig.port)
    if not 0 <= port <= 65535:
        raise UsageError(f"config field exporter.port: expected 0..65535, got {port}")
    exporter_host = _expect(e, "exporter", "host", str, ExporterConfig.host)
    try:
        ipaddress.ip_address(exporter_host)
    except ValueError:
        raise UsageError(f"config field exporter.host: expected an IP address such as 127.0.0.1, got "
                         f"{exporter_host!r}") from None
    pod_socket = _expect(e, "exporter", "pod_resources_socket", str, ExporterConfig.pod_resources_socket)
    if pod_socket and not Path(pod_socket).is_absolute():  # a kubelet socket is a host path, never config-relative
        raise UsageError(f"config field exporter.pod_resources_socket: expected an absolute path such as "
                         f"/var/lib/kubelet/pod-resources/kubelet.sock, or empty, got {pod_socket!r}")
    pod_refresh_s = float(_expect(e, "exporter", "pod_resources_refresh_s", (int, float),
                                  ExporterConfig.pod_resources_refresh_s))
    if not 1 <= pod_refresh_s <= 3600:
        raise UsageError(f"config field exporter.pod_resources_refresh_s: expected 1..3600, got {pod_refresh_s}")

    max_backoff_s = float(_expect(s, "submit", "max_backoff_s", (int, float), SubmitConfig.max_backoff_s))
    if max_backoff_s <= 0:
        raise UsageError(f"config field submit.max_backoff_s: expected > 0, got {max_backoff_s}")
    max_defer_s = _expect(s, "submit", "max_defer_s", int, SubmitConfig.max_defer_s)
    if max_defer_s < 0:
        raise UsageError(f"config field submit.max_defer_s: expected >= 0, got {max_defer_s}")

    carbon_zone = _expect(s, "submit", "carbon_zone", str, SubmitConfig.carbon_zone)
    carbon_trace = _expect(s, "submit", "carbon_trace", str, SubmitConfig.carbon_trace)
    if carbon_trace and base_dir is not None and not Path(carbon_trace).is_absolute():
        carbon_trace = str(base_dir / carbon_trace)

    fee_caps = LOCAL_FEE_CAPS if chain.is_local else REMOTE_FEE_CAPS
    max_fee = float(_expect(s, "submit", "max_fee_per_gas_gwei", (int, float), fee_caps[0]))
    max_tip = float(_expect(s, "submit", "max_priority_fee_gwei", (int, float), fee_caps[1]))
    if max_fee <= 0:
        raise UsageError(f"config field submit.max_fee_per_gas_gwei: expected > 0, got {max_fee}")
    if not 0 <= max_tip <= max_fee:
        raise UsageError(f"config field submit.max_priority_fee_gwei: expected 0..max_fee_per_gas_gwei "
                         f"({max_fee}), got {max_tip}")
    max_gas = _expect(s, "submit", "max_gas_per_submit", int, DEFAULT_MAX_GAS_PER_SUBMIT)
    if max_gas < 100_000:
        raise UsageError(f"config field submit.max_gas_per_submit: expected >= 100000, got {max_gas}")

    batch_size = _expect(s, "submit", "batch_size", int, SubmitConfig.batch_size)
    if not 1 <= batch_size <= 256:
        raise UsageError(f"config field submit.batch_size: expected 1..256, got {batch_size}")
    batch_wait_s = float(_expect(s, "submit", "batch_wait_s", (int, float), SubmitConfig.batch_wait_s))
    if batch_wait_s < 0:
        raise UsageError(f"config field submit.batch_wait_s: expected >= 0, got {batch_wait_s}")
    relay_url = _expect(s, "submit", "relay_url", str, SubmitConfig.relay_url)
    if relay_url and (urlparse(relay_url).scheme not in ("http", "https") or not urlparse(relay_url).hostname):
        raise UsageError(f"config field submit.relay_url: expected an http(s) URL, got {relay_url!r}")

    profile = _expect(o, "optimize", "profile", str, OptimizeConfig.profile)
    if profile and base_dir is not None and not Path(profile).is_absolute():
        profile = str(base_dir / profile)
    latency_slo_ms = float(_expect(o, "optimize", "latency_slo_ms", (int, float), OptimizeConfig.latency_slo_ms))
    if latency_slo_ms < 0:
        raise UsageError(f"config field optimize.latency_slo_ms: expected >= 0, got {latency_slo_ms}")

    return NodeConfig(
        chain,
        KeyConfig(account, passphrase_env, passphrase_file),
        NodeSection(hardware_class, region, epoch_seconds, class_id),
        MeasureConfig(sources, sample_hz, work_sources, allow_unmeasured, replay_offset_s),
        ExporterConfig(port, exporter_host, pod_socket, pod_refresh_s),
        SubmitConfig(max_backoff_s, max_defer_s, carbon_zone, carbon_trace, max_fee, max_tip, max_gas, batch_size,
                     batch_wait_s, relay_url),
        OptimizeConfig(profile, latency_slo_ms),
    )


def check_honest_sources(chain: ChainConfig, sources: tuple[str, ...], work_sources: tuple[str, ...],
                         allow_unmeasured: bool) -> None:
    """Off a local loopback chain, refuse the replayed trace and the CPU estimate (energy or work) unless
    `measure.allow_unmeasured = true` says so explicitly. ("auto" is then resolved without the replayed
    stand-in, and the node refuses at start a CPU estimate it resolves to.)"""
    if chain.is_local or allow_unmeasured:
        return
    energy = [s for s in sources if s == "cpu" or s == "replay" or s.startswith("replay:")]
    work = [s for s in work_sources if s == "replay" or s.startswith("replay:")]
    if energy or work:
        named = ", ".join([f"measure.sources {s!r}" for s in energy] + [f"measure.work_sources {s!r}" for s in work])
        raise UsageError(
            f"config field measure.allow_unmeasured: network {chain.network} ({chain.rpc_url}) is not a local "
            f"loopback chain, and {named} would be proved as this node's own measurement; use measured sources "
            "or set allow_unmeasured = true to say so explicitly (the methods are public on chain either way)")


def load_config(path: Path | None) -> NodeConfig:
    """Read and validate a config file; None means all defaults."""
    if path is None:
        return parse_config({})
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"config file {path}: cannot read it ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path}: not valid TOML ({exc})") from None
    return parse_config(data, base_dir=path.parent)


def with_overrides(config: NodeConfig, **changes: Any) -> NodeConfig:
    """A copy with some `section.key` values replaced (CLI flags win over the file)."""
    from dataclasses import replace

    sections = {
        name: getattr(config, name) for name in ("chain", "key", "node", "measure", "exporter", "submit", "optimize")
    }
    for dotted, value in changes.items():
        if value is None:
            continue
        section, key = dotted.split("__")
        sections[section] = replace(sections[section], **{key: value})
    return NodeConfig(**sections)
