"""Deploy EcoAI's contracts with Ape: `ape run deploy [--network ...] [--account ...] [--params F] [--admin A]
[--test-deployment] [--out F]`.

Deploys the efficiency verifier, EcoCredit, GreenProof and RetirementCertificate, fixes GreenProof as EcoCredit's
one minter (for ever), sets the efficiency classes and regions of the params file, hands every GreenProof role to
the governance address (--admin, or the params file's `admin`) and has the deployer renounce its own, then writes
the deployment file that the oracle and the web read (default: <state>/deployments/<network>.json).

On a network other than a local chain the deploy refuses to start unless a governance address other than the
deployer is given, so that the deployer key keeps no role; --test-deployment lifts that for a throwaway deploy.

    ape run deploy --network ethereum:local:foundry --account TEST::0          # a throwaway local anvil
    ape run deploy --network ethereum:local:foundry --account TEST::0 \
        --provider-settings '{"host": "http://127.0.0.1:8545"}'                # an anvil already running
    ape run deploy --network ethereum:sepolia:node --account deployer \
        --params oracle/chain/sepolia_params.toml --admin 0xDAO...             # SEPOLIA_RPC_URL, Ape keystore
"""

from __future__ import annotations

from pathlib import Path

import click
from ape.cli import ConnectedProviderCommand, account_option

from oracle.chain.deploy import DEFAULT_PARAMS, check_role_plan, deploy_stack, load_params, override_admin
from oracle.chain.deployment import default_path
from oracle.errors import UsageError


@click.command(cls=ConnectedProviderCommand, short_help="Deploy the EcoAI contracts")
@account_option()
@click.option("--params", "params_file", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_PARAMS,
              show_default=True, help="Deploy parameters (TOML: epoch length, efficiency classes, regions).")
@click.option("--admin", default=None,
              help="Governance address (DAO timelock or multisig) that receives every role; overrides the params "
                   "file's admin. Required on a non-local network, and must not be the deployer.")
@click.option("--test-deployment", is_flag=True, default=False,
              help="A throwaway deployment: allow a non-local network without a governance admin.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Deployment file to write [default: <state>/deployments/<network>.json].")
def cli(ecosystem, network, account, params_file: Path, admin: str | None, test_deployment: bool,
        out: Path | None) -> None:
    choice = f"{ecosystem.name}:{network.name}"
    try:
        params = override_admin(load_params(params_file), admin)
        check_role_plan(choice, params.admin, account.address, test_deployment)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from None
    deployment = deploy_stack(account, params, choice, test_deployment)
    path = deployment.save(out or default_path(choice))
    for name, ref in deployment.contracts.items():
        click.echo(f"{name}: {ref.address}")
    holder = params.admin or f"the deployer {account.address}"
    click.echo(f"roles: every GreenProof role with {holder}; EcoCredit's minter fixed to GreenProof")
    click.echo(f"chain {deployment.chain_id}, block {deployment.block}: wrote {path}")
