"""Deploy EcoAI's contracts with Ape: `ape run deploy [--network ...] [--account ...] [--params F] [--out F]`.

Deploys Groth16Verifier, EcoCredit and GreenProof, grants GreenProof EcoCredit's MINTER_ROLE, sets the hardware
classes and regions of the params file, hands every role to the file's `admin` when one is set, and writes the
deployment file that the oracle and the web read (default: <state>/deployments/<network>.json).

    ape run deploy --network ethereum:local:foundry --account TEST::0          # a throwaway local anvil
    ape run deploy --network ethereum:local:foundry --account TEST::0 \
        --provider-settings '{"host": "http://127.0.0.1:8545"}'                # an anvil already running
    ape run deploy --network ethereum:sepolia:node --account deployer \\
        --params oracle/chain/sepolia_params.toml                              # SEPOLIA_RPC_URL, Ape keystore
"""

from __future__ import annotations

from pathlib import Path

import click
from ape.cli import ConnectedProviderCommand, account_option

from oracle.chain.deploy import DEFAULT_PARAMS, deploy_stack, load_params
from oracle.chain.deployment import default_path
from oracle.errors import UsageError


@click.command(cls=ConnectedProviderCommand, short_help="Deploy the EcoAI contracts")
@account_option()
@click.option("--params", "params_file", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_PARAMS,
              show_default=True, help="Deploy parameters (TOML: epoch length, hardware classes in W, regions).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Deployment file to write [default: <state>/deployments/<network>.json].")
def cli(ecosystem, network, account, params_file: Path, out: Path | None) -> None:
    try:
        params = load_params(params_file)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from None
    choice = f"{ecosystem.name}:{network.name}"
    deployment = deploy_stack(account, params, choice)
    path = deployment.save(out or default_path(choice))
    for name, ref in deployment.contracts.items():
        click.echo(f"{name}: {ref.address}")
    click.echo(f"chain {deployment.chain_id}, block {deployment.block}: wrote {path}")
