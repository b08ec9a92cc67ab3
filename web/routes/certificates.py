"""The wallet pages: claim (with network switch/add) and retire, the certificate page and the public retirement
index. Live chain reads: none of these pages goes through the page cache.

A certificate page reads the index (`Reader.certificate`, `retirements_of`) and only the SVG image from the
contract's `tokenURI`; a certificate mined after the index's cursor (the page right after the retire
transaction) is read from the contract instead (`certificate(id)`, `tokenURI`, its Retired event above the
cursor). The retirement index is the indexer's (`Reader.retirements`, `retirement_holders`, `totals()`).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from eth_utils import event_abi_to_log_topic, function_abi_to_4byte_selector
from fastapi import APIRouter, HTTPException, Path as PathParam, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool
from web3.contract import Contract
from web3.exceptions import ContractLogicError, Web3Exception

from oracle.conventions import ECO_DECIMALS
from web.chain import Chain
from web.db.queries import Reader
from web.routes.common import PageQuery, check_page, web_state
from web.views import make_env

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

CERTIFICATE_CONTRACT = "RetirementCertificate"  # its name in the deployment file
MAX_TOKEN_ID = 2**63 - 1  # ids count up from 1; an index stores them in 64-bit signed columns
TokenIdParam = Annotated[int, PathParam(ge=1, le=MAX_TOKEN_ID, description="certificate (token) id")]
INDEX_PAGE_SIZE = 25
HOLDERS_SHOWN = 20
SVG_DATA_URI = re.compile(r"^data:image/svg\+xml;base64,[A-Za-z0-9+/]+={0,2}$")
JSON_DATA_URI_PREFIX = "data:application/json;base64,"
# Names wallets show for chains they may not know (EIP-3085 chainName); others get "EcoAI chain <id>".
CHAIN_NAMES = {1: "Ethereum", 11155111: "Sepolia", 31337: "EcoAI local (anvil)"}
NATIVE_CURRENCY = {"name": "Ether", "symbol": "ETH", "decimals": 18}
EXPLORERS = {1: "https://etherscan.io", 11155111: "https://sepolia.etherscan.io"}  # transaction links


@dataclass
class CertificateChain:
    """The certificate contract of the app's deployment (None on a deployment without one) and the RPC URL the
    wallet may be told to add (only a loopback URL: a remote provider URL may carry an API key)."""

    contract: Contract | None
    public_rpc_url: str | None
    chain_name: str


def public_rpc_url(rpc_url: str | None) -> str | None:
    """`rpc_url` when it is safe to publish to wallets (http(s) on a loopback host: the local chain), else None."""
    if not rpc_url:
        return None
    parts = urlsplit(rpc_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return None
    host = parts.hostname
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    return rpc_url if loopback and not parts.query else None


def certificate_chain(chain: Chain | None, deployment: Any, rpc_url: str | None) -> CertificateChain:
    """The app factory's helper: the certificate contract from the deployment file, when it lists one."""
    contract = getattr(chain, "certificate", None) if chain is not None else None
    if chain is not None and contract is None and deployment is not None \
            and CERTIFICATE_CONTRACT in getattr(deployment, "contracts", {}):
        contract = deployment.contract(chain.w3, CERTIFICATE_CONTRACT)
    chain_id = chain.chain_id if chain is not None else 0
    return CertificateChain(contract, public_rpc_url(rpc_url), CHAIN_NAMES.get(chain_id, f"EcoAI chain {chain_id}"))


def _certs(request: Request) -> CertificateChain:
    return getattr(request.app.state, "certificates", None) or CertificateChain(None, None, "")


def render(request: Request, name: str, status: int = 200, /, **context: Any) -> HTMLResponse:
    body = make_env().get_template(name).render(notice=web_state(request).notice, **context)
    return HTMLResponse(body, status_code=status, headers={"Vary": "HX-Request", "Cache-Control": "no-store"})


def _selector(contract: Contract, name: str, arity: int) -> str:
    abi = next(i for i in contract.abi if i.get("type") == "function" and i["name"] == name
               and len(i.get("inputs", [])) == arity)
    return "0x" + bytes(function_abi_to_4byte_selector(abi)).hex()


def _event_topic(contract: Contract, name: str) -> str:
    abi = next(i for i in contract.abi if i.get("type") == "event" and i["name"] == name)
    return "0x" + bytes(event_abi_to_log_topic(abi)).hex()


_STATIC: dict[tuple[str, str], dict[str, Any]] = {}


def _static_reads(token: Contract, certificate: Contract) -> dict[str, Any]:
    """What never changes for a deployment: the permit's EIP-712 domain (ERC-5267) and the string limits."""
    key = (token.address, certificate.address)
    if key not in _STATIC:
        _STATIC[key] = _read_static(token, certificate)
    return _STATIC[key]


def _read_static(token: Contract, certificate: Contract) -> dict[str, Any]:
    try:
        domain = token.functions.eip712Domain().call()
        name, version = str(domain[1]), str(domain[2])
    except (ContractLogicError, ValueError, Web3Exception):
        name, version = str(token.functions.name().call()), "1"
    return {"permit_name": name, "permit_version": version,
            "max_name_bytes": int(certificate.functions.MAX_NAME_LENGTH().call()),
            "max_message_bytes": int(certificate.functions.MAX_MESSAGE_LENGTH().call())}


def wallet_config(chain: Chain, certs: CertificateChain) -> dict[str, Any]:
    """Everything the claim and retire scripts need, as data-* attributes: the browser needs no ABI."""
    config: dict[str, Any] = {
        "chain_id": hex(chain.chain_id), "chain_name": certs.chain_name, "rpc_url": certs.public_rpc_url or "",
        "currency_name": NATIVE_CURRENCY["name"], "currency_symbol": NATIVE_CURRENCY["symbol"],
        "currency_decimals": NATIVE_CURRENCY["decimals"],
        "green_proof": chain.green_proof.address, "token": chain.eco_credit.address,
        "claim_data": chain.claim_calldata(), "symbol": "ECO", "decimals": ECO_DECIMALS, "retire": None}
    cert = certs.contract
    if cert is not None:
        token = chain.eco_credit
        config["retire"] = {
            "certificate": cert.address,
            "retire_selector": _selector(cert, "retire", 3),
            "retire_with_permit_selector": _selector(cert, "retireWithPermit", 7),
            "approve_selector": _selector(token, "approve", 2),
            "nonces_selector": _selector(token, "nonces", 1),
            "retired_topic": _event_topic(cert, "Retired"),
            **_static_reads(token, cert)}
    return config


@router.get("/claim", name="claim")
async def claim_page(request: Request) -> HTMLResponse:
    chain = web_state(request).chain
    config = None
    if chain is not None:
        try:
            config = await run_in_threadpool(wallet_config, chain, _certs(request))
        except (OSError, ValueError, Web3Exception) as exc:
            raise HTTPException(502, f"the chain did not answer: {type(exc).__name__}") from None
    return render(request, "claim.html", nav="claim", config=config)


def decode_token_uri(uri: str) -> tuple[dict[str, Any], str | None]:
    """tokenURI's JSON and its image when it is a base64 SVG data URI (the only image the page shows)."""
    if not uri.startswith(JSON_DATA_URI_PREFIX):
        raise ValueError("tokenURI is not a base64 JSON data URI")
    try:
        metadata = json.loads(base64.b64decode(uri[len(JSON_DATA_URI_PREFIX):], validate=True))
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"tokenURI does not decode: {exc}") from None
    image = metadata.get("image")
    return metadata, image if isinstance(image, str) and SVG_DATA_URI.match(image) else None


def _holder_total(reader: Reader, holder: str, token_id: int) -> int:
    """What `holder` had retired up to and including certificate `token_id` (the contract's holderTotal)."""
    every = max(int(reader.totals()["retirements"] or 0), 1)
    return sum(int(r["amount_wei"]) for r in reader.retirements_of(holder, every) if int(r["token_id"]) <= token_id)


def _image(certs: CertificateChain, token_id: int) -> tuple[str | None, str | None]:
    """The contract's tokenURI: its name and SVG image (the index does not store the image)."""
    if certs.contract is None:
        return None, None
    metadata, image = decode_token_uri(certs.contract.functions.tokenURI(token_id).call())
    return metadata.get("name"), image


def indexed_certificate(row: Any, holder_total_wei: int, metadata_name: str | None,
                        image: str | None) -> dict[str, Any]:
    """A certificate the indexer has seen: every field from the index (Reader.certificate), only the image from
    the contract's tokenURI."""
    return {"token_id": int(row["token_id"]), "holder": row["holder"], "amount_wei": int(row["amount_wei"]),
            "retired_at": int(row["timestamp"]), "holder_total_wei": holder_total_wei,
            "beneficiary_name": row["beneficiary_name"], "message": row["message"], "metadata_name": metadata_name,
            "image": image, "tx_hash": row["tx_hash"], "block": int(row["block"]), "indexed": True}


def chain_certificate(chain: Chain, certs: CertificateChain, token_id: int, from_block: int) -> dict[str, Any] | None:
    """A certificate mined after the index's cursor (None if it does not exist): read from the contract
    (`certificate(id)`, `tokenURI`), its transaction from its Retired event at or above `from_block`."""
    assert certs.contract is not None
    try:
        holder, amount, retired_at, holder_total, name, message = \
            certs.contract.functions.certificate(token_id).call()
    except ContractLogicError:
        return None  # ERC721NonexistentToken
    metadata_name, image = _image(certs, token_id)
    logs = certs.contract.events.Retired().get_logs(from_block=max(chain.start_block, from_block),
                                                    argument_filters={"tokenId": token_id})
    return {"token_id": token_id, "holder": holder, "amount_wei": int(amount), "retired_at": int(retired_at),
            "holder_total_wei": int(holder_total), "beneficiary_name": name, "message": message,
            "metadata_name": metadata_name, "image": image,
            "tx_hash": "0x" + bytes(logs[0]["transactionHash"]).hex() if logs else None,
            "block": int(logs[0]["blockNumber"]) if logs else None, "indexed": False}


@router.get("/certificates/{token_id}", name="certificate_page")
async def certificate_page(request: Request, token_id: TokenIdParam) -> HTMLResponse:
    """One certificate: from the index when it has it, else (just mined) from the chain. Index reads run here, on
    the event loop like every page's (the reader's connection is not shared with the thread pool); only chain
    reads go to the thread pool."""
    state, certs = web_state(request), _certs(request)
    reader = state.reader
    row = reader.certificate(token_id)
    try:
        if row is not None:
            holder_total = _holder_total(reader, row["holder"], token_id)
            name, image = await run_in_threadpool(_image, certs, token_id)
            cert = indexed_certificate(row, holder_total, name, image)
        elif state.chain is not None and certs.contract is not None:
            cursor = reader.cursor()
            from_block = int(cursor["block"]) + 1 if cursor is not None else 0
            cert = await run_in_threadpool(chain_certificate, state.chain, certs, token_id, from_block)
            if cert is not None and cert["tx_hash"] is None and (row := reader.certificate(token_id)) is not None:
                cert.update(tx_hash=row["tx_hash"], block=int(row["block"]))  # indexed meanwhile, below the cursor
        else:
            raise HTTPException(404, f"no retirement certificate #{token_id} in the index (and no chain connection "
                                     "to look for a newer one)")
    except (OSError, ValueError, Web3Exception) as exc:
        raise HTTPException(502, f"the chain did not answer: {type(exc).__name__}") from None
    if cert is None:
        raise HTTPException(404, f"no retirement certificate #{token_id}")
    explorer = EXPLORERS.get(state.chain.chain_id) if state.chain is not None else None
    return render(request, "certificate.html", nav="certificates", cert=cert,
                  contract=certs.contract.address if certs.contract is not None else None, explorer=explorer)


@router.get("/certificates", name="certificates_index")
async def certificates_index(request: Request, page: PageQuery = 1) -> HTMLResponse:
    """Every retirement in the index (RetirementCertificate.Retired events), newest first, with the totals and
    the holders who retired the most."""
    reader = web_state(request).reader
    retirements = reader.retirements(page, INDEX_PAGE_SIZE)
    check_page(retirements)
    totals = reader.totals()
    index = {"total_retired_wei": int(totals["retired_wei"] or 0), "certificates": int(totals["retirements"] or 0),
             "holders": reader.retirement_holders(HOLDERS_SHOWN), "page": retirements}
    return render(request, "certificates.html", nav="certificates", index=index)
