"""RetirementCertificate on a real anvil: ECO (the real EcoCredit of the deployed stack) is burned and a soulbound
ERC-721 certificate with on-chain JSON + SVG metadata is minted in the same call.

The holders get ECO from an EcoCredit deployed for these tests whose one fixed minter is the governor account
(`EcoCredit.deploy()`, then `setMinter(governor)`: EcoCredit has no roles, and the stack's own EcoCredit mints only
for GreenProof); one test goes the whole way instead, on the stack's real EcoCredit: a real v2 Groth16 proof
accepted by GreenProof.submit, the beneficiary's claim, then the retirement.
Successful transactions go through Ape; each rejection is checked with eth_call (web3.py) and must name its own
custom error with its arguments.
"""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from oracle.chain.governance import decode_custom_error
from oracle.conventions import WEI_PER_ECO

pytestmark = pytest.mark.chain

ECO = WEI_PER_ECO
MINTED = 1_000 * ECO
MAX_NAME, MAX_MESSAGE = 64, 256
ERC5192_ID = bytes.fromhex("b45a3c0e")
ERC721_ID, ERC721_METADATA_ID, ERC165_ID = (bytes.fromhex(h) for h in ("80ac58cd", "5b5e139f", "01ffc9a7"))
SVG = "{http://www.w3.org/2000/svg}"
ZERO_ADDRESS = "0x" + "00" * 20
# Strings that break naive JSON or SVG building: quotes, backslashes, markup, entities, controls, U+2028,
# non-characters XML cannot hold, and multi-byte UTF-8.
HOSTILE_NAME = '"},{"x":"\\</text><script>&amp;\x00\x01\x1b\x7f\'\u2028'
HOSTILE_MESSAGE = ("</text></svg><svg onload=alert(1)>\n\t\r\n'\"\\ & <![CDATA[x]]> <!--c--> \x07\x08\x0c"
                   " \ufffe\uffff 日本語 🌍 " + "é" * 40 + " end")


def abi_of(container: Any) -> list[dict[str, Any]]:
    return container.contract_type.model_dump(mode="json", by_alias=True, exclude_none=True)["abi"]


@dataclass
class Certs:
    stack: Any  # tests/contracts/conftest.py Stack
    cert: Any  # Ape contract
    credit: Any  # the EcoCredit `cert` burns (Ape contract)
    holder: Any
    other: Any
    errors_abi: list[dict[str, Any]]

    @property
    def w3(self) -> Any:
        return self.stack.w3

    @property
    def wcert(self) -> Any:
        return self.w3.eth.contract(address=self.cert.address, abi=abi_of(self.cert)).functions

    def retire(self, account: Any, amount: int, name: str = "", message: str = "") -> Any:
        self.credit.approve(self.cert.address, amount, sender=account)
        return self.cert.retire(amount, name, message, sender=account)

    def rejects(self, error: str, call: Any, sender: Any, /, **expected: Any) -> None:
        """The web3 call `call` from `sender` reverts (eth_call) with custom error `error` and these arguments;
        errors of EcoCredit (the burn) bubble up and are decoded too."""
        self.rejects_raw(error, lambda: call.call({"from": sender.address}), **expected)

    def rejects_raw(self, error: str, do: Any, /, **expected: Any) -> None:
        from web3.exceptions import ContractCustomError

        try:
            do()
        except ContractCustomError as exc:
            name, args = decode_custom_error(self.errors_abi, exc.data)
        else:
            raise AssertionError(f"expected a revert with {error}, the call succeeded")
        assert name == error, f"expected {error}, got {name}{args}"
        for key, value in expected.items():
            assert args.get(key) == value, f"{error}.{key}: expected {value!r}, got {args.get(key)!r}"

    def metadata(self, token_id: int) -> dict[str, Any]:
        uri = self.cert.tokenURI(token_id)
        prefix = "data:application/json;base64,"
        assert uri.startswith(prefix)
        raw = base64.b64decode(uri.removeprefix(prefix), validate=True)
        return json.loads(raw.decode("utf-8"), parse_float=Decimal)  # strict: raw control characters fail

    @staticmethod
    def svg(meta: dict[str, Any]) -> ET.Element:
        prefix = "data:image/svg+xml;base64,"
        assert meta["image"].startswith(prefix)
        return ET.fromstring(base64.b64decode(meta["image"].removeprefix(prefix), validate=True))


@pytest.fixture(scope="module")
def certs_module(module_stack: Any) -> Certs:
    """An EcoCredit whose fixed minter is the governor account and a RetirementCertificate on it, deployed next to
    the module's stack; holders 4 and 5 get 1000 ECO each, minted by the governor."""
    from ape import accounts

    from oracle.chain.deploy import ape_project

    project = ape_project()
    s = module_stack
    credit = project.EcoCredit.deploy(sender=s.governor)
    credit.setMinter(s.governor.address, sender=s.governor)
    cert = project.RetirementCertificate.deploy(credit.address, sender=s.governor)
    holder, other = accounts.test_accounts[4], accounts.test_accounts[5]
    for account in (holder, other):
        credit.mint(account.address, MINTED, sender=s.governor)
    return Certs(s, cert, credit, holder, other, abi_of(project.RetirementCertificate) + abi_of(project.EcoCredit))


@pytest.fixture
def certs(stack: Any, certs_module: Certs) -> Certs:
    """The module's certificate contract, each test inside the stack's anvil snapshot (reverted afterwards)."""
    return certs_module


def test_retire_burns_the_holders_eco_then_mints_a_locked_certificate(certs: Certs):
    c, holder = certs, certs.holder
    amount = 12 * ECO + ECO // 2
    supply = c.credit.totalSupply()
    c.credit.approve(c.cert.address, amount, sender=holder)
    receipt = c.cert.retire(amount, "Seoul Climate Fund", "For our 2026 inference fleet", sender=holder)
    print(f"\ngas retire (first, 18-byte name, 28-byte message): {receipt.gas_used}")

    assert c.credit.totalSupply() == supply - amount
    assert c.credit.balanceOf(holder.address) == MINTED - amount
    assert c.credit.allowance(holder.address, c.cert.address) == 0
    assert c.cert.ownerOf(1) == holder.address
    assert c.cert.balanceOf(holder.address) == 1
    assert c.cert.locked(1) is True
    assert c.cert.totalSupply() == 1

    [retired] = receipt.decode_logs(c.cert.Retired)
    assert retired.event_arguments == {"tokenId": 1, "holder": holder.address, "amount": amount,
                                       "beneficiaryName": "Seoul Climate Fund",
                                       "message": "For our 2026 inference fleet"}
    [locked] = receipt.decode_logs(c.cert.Locked)
    assert locked.event_arguments == {"tokenId": 1}
    # Burn before mint: the ECO Transfer to 0x0 comes before the certificate's Transfer from 0x0.
    logs = c.w3.eth.get_transaction_receipt(receipt.txn_hash)["logs"]
    transfer = c.w3.keccak(text="Transfer(address,address,uint256)")
    kinds = [(log["address"], log["topics"][0]) for log in logs]
    burn_at = kinds.index((c.credit.address, transfer))
    mint_at = kinds.index((c.cert.address, transfer))
    assert burn_at < mint_at
    assert int.from_bytes(logs[burn_at]["topics"][2], "big") == 0  # ECO sent to the zero address: burned
    assert int.from_bytes(logs[mint_at]["topics"][1], "big") == 0  # certificate from the zero address: minted

    block_time = c.cert.provider.get_block(receipt.block_number).timestamp
    record = c.cert.certificate(1)
    assert tuple(record) == (holder.address, amount, block_time, amount, "Seoul Climate Fund",
                             "For our 2026 inference fleet")
    assert c.cert.totalRetired() == amount
    assert c.cert.retiredBy(holder.address) == amount


def test_the_public_index_sums_retirements_per_holder_and_in_total(certs: Certs):
    c = certs
    c.retire(c.holder, 3 * ECO, "A")
    c.retire(c.other, 5 * ECO)
    receipt = c.retire(c.holder, 7 * ECO, "B")
    print(f"\ngas retire (holder's second, 1-byte name, no message): {receipt.gas_used}")
    assert c.cert.totalRetired() == 15 * ECO
    assert c.cert.retiredBy(c.holder.address) == 10 * ECO
    assert c.cert.retiredBy(c.other.address) == 5 * ECO
    assert c.cert.retiredBy(c.stack.outsider.address) == 0
    assert c.cert.totalSupply() == 3
    assert [c.cert.certificate(i).holderTotal for i in (1, 2, 3)] == [3 * ECO, 5 * ECO, 10 * ECO]
    assert [c.cert.ownerOf(i) for i in (1, 2, 3)] == [c.holder.address, c.other.address, c.holder.address]
    assert c.cert.balanceOf(c.holder.address) == 2
    assert c.credit.totalSupply() == 2 * MINTED - 15 * ECO


def test_certificates_are_soulbound(certs: Certs):
    c, holder, outsider = certs, certs.holder, certs.stack.outsider
    c.retire(holder, ECO, "Soul")
    w = c.wcert
    for sender in (holder, outsider):
        c.rejects("NonTransferable", w.transferFrom(holder.address, outsider.address, 1), sender, tokenId=1)
        for signature in ("safeTransferFrom(address,address,uint256)",
                          "safeTransferFrom(address,address,uint256,bytes)"):
            fn = c.w3.eth.contract(address=c.cert.address, abi=abi_of(c.cert)).get_function_by_signature(signature)
            args = (holder.address, outsider.address, 1) + ((b"",) if signature.endswith("bytes)") else ())
            c.rejects("NonTransferable", fn(*args), sender, tokenId=1)
        c.rejects("NonTransferable", w.approve(outsider.address, 1), sender, tokenId=1)
        c.rejects("ApprovalsDisabled", w.setApprovalForAll(outsider.address, True), sender,
                  operator=outsider.address)
    # A mined attempt changes nothing either.
    from ape.exceptions import ContractLogicError

    with pytest.raises(ContractLogicError):
        c.cert.transferFrom(holder.address, outsider.address, 1, sender=holder)
    assert c.cert.ownerOf(1) == holder.address
    assert c.cert.getApproved(1) == ZERO_ADDRESS
    assert c.cert.isApprovedForAll(holder.address, outsider.address) is False
    assert c.cert.locked(1) is True
    for interface in (ERC5192_ID, ERC721_ID, ERC721_METADATA_ID, ERC165_ID):
        assert c.cert.supportsInterface(interface) is True
    assert c.cert.supportsInterface(bytes.fromhex("ffffffff")) is False
    c.rejects("ERC721NonexistentToken", w.locked(2), holder, tokenId=2)
    c.rejects("ERC721NonexistentToken", w.tokenURI(2), holder, tokenId=2)
    c.rejects("ERC721NonexistentToken", w.certificate(0), holder, tokenId=0)


def test_only_the_holder_can_retire_its_own_eco(certs: Certs):
    c, holder, outsider = certs, certs.holder, certs.stack.outsider
    amount = 2 * ECO
    # The holder approves both the certificate contract and the outsider: neither lets the outsider retire the
    # holder's ECO, since retire only ever burns the caller's own balance.
    c.credit.approve(c.cert.address, amount, sender=holder)
    c.credit.approve(outsider.address, amount, sender=holder)
    c.rejects("ERC20InsufficientAllowance", c.wcert.retire(amount, "", ""), outsider,
              spender=c.cert.address, allowance=0, needed=amount)
    c.credit.approve(c.cert.address, amount, sender=outsider)
    c.rejects("ERC20InsufficientBalance", c.wcert.retire(amount, "", ""), outsider,
              sender=outsider.address, balance=0, needed=amount)
    assert c.credit.balanceOf(holder.address) == MINTED
    # Once the outsider holds ECO of its own, it can retire that.
    c.credit.transfer(outsider.address, amount, sender=holder)
    c.cert.retire(amount, "", "", sender=outsider)
    assert c.cert.ownerOf(1) == outsider.address
    assert c.credit.allowance(holder.address, c.cert.address) == amount  # the holder's own approval is intact
    assert c.cert.retiredBy(holder.address) == 0


def test_bad_retirements_are_refused_with_their_own_error(certs: Certs):
    c, holder = certs, certs.holder
    w = c.wcert
    c.rejects("ZeroAmount", w.retire(0, "x", "y"), holder)
    c.rejects("AmountTooLarge", w.retire(2**96, "", ""), holder, amount=2**96, max=2**96 - 1)
    c.rejects("ERC20InsufficientAllowance", w.retire(ECO, "", ""), holder,
              spender=c.cert.address, allowance=0, needed=ECO)
    c.credit.approve(c.cert.address, MINTED + 1, sender=holder)
    c.rejects("ERC20InsufficientBalance", w.retire(MINTED + 1, "", ""), holder,
              sender=holder.address, balance=MINTED, needed=MINTED + 1)
    # Length bounds are in bytes of UTF-8: 22 euro signs are 66 bytes.
    c.rejects("NameTooLong", w.retire(ECO, "n" * (MAX_NAME + 1), ""), holder, length=MAX_NAME + 1,
              maxLength=MAX_NAME)
    c.rejects("NameTooLong", w.retire(ECO, "€" * 22, ""), holder, length=66, maxLength=MAX_NAME)
    c.rejects("MessageTooLong", w.retire(ECO, "", "m" * (MAX_MESSAGE + 1)), holder, length=MAX_MESSAGE + 1,
              maxLength=MAX_MESSAGE)
    assert c.cert.MAX_NAME_LENGTH() == MAX_NAME and c.cert.MAX_MESSAGE_LENGTH() == MAX_MESSAGE
    assert c.credit.balanceOf(holder.address) == MINTED and c.cert.totalSupply() == 0


@pytest.mark.parametrize(("name", "message", "error", "offset"), [
    (b"ok \xff", b"", "NameNotUtf8", 3),  # never a UTF-8 byte
    (b"\xc0\xaf", b"", "NameNotUtf8", 0),  # overlong "/"
    (b"ab\xed\xa0\x80", b"", "NameNotUtf8", 2),  # a surrogate
    (b"", b"x" * 40 + b"\xe2\x82", "MessageNotUtf8", 40),  # truncated euro sign after a 32-byte ASCII run
    (b"", b"\xf4\x90\x80\x80", "MessageNotUtf8", 0),  # above U+10FFFF
    (b"fine \xe2\x82\xac", b"caf\xc3\xa9 \x80", "MessageNotUtf8", 6),  # lone continuation byte
])
def test_strings_that_are_not_utf8_are_refused(certs: Certs, name: bytes, message: bytes, error: str, offset: int):
    from eth_abi import encode

    c = certs
    data = c.w3.keccak(text="retire(uint256,string,string)")[:4] + encode(["uint256", "bytes", "bytes"],
                                                                         [ECO, name, message])
    c.rejects_raw(error, lambda: c.w3.eth.call({"from": c.holder.address, "to": c.cert.address, "data": data}),
                  offset=offset)


def test_token_uri_is_json_with_an_svg_image_built_from_the_certificate(certs: Certs):
    c, holder = certs, certs.holder
    receipt = c.retire(holder, 12 * ECO + ECO // 2, "Seoul Climate Fund", "For our 2026 inference fleet")
    c.retire(holder, 1)  # one base unit, no name: on behalf of the holder itself
    block_time = c.cert.provider.get_block(receipt.block_number).timestamp

    meta = c.metadata(1)
    assert set(meta) == {"name", "description", "image", "attributes"}
    assert meta["name"] == "EcoAI Retirement Certificate #1"
    assert f"{holder.address} retired 12.5 ECO" in meta["description"]
    assert "on behalf of Seoul Climate Fund." in meta["description"]
    attributes = {a["trait_type"]: a for a in meta["attributes"]}
    assert attributes["Amount (ECO)"] == {"trait_type": "Amount (ECO)", "display_type": "number",
                                          "value": Decimal("12.5")}
    assert attributes["Beneficiary"]["value"] == "Seoul Climate Fund"
    assert attributes["Message"]["value"] == "For our 2026 inference fleet"
    assert attributes["Holder"]["value"] == holder.address
    assert attributes["Retired at"] == {"trait_type": "Retired at", "display_type": "date", "value": block_time}
    assert attributes["Holder total retired (ECO)"]["value"] == Decimal("12.5")

    svg = c.svg(meta)
    assert svg.tag == f"{SVG}svg"
    texts = ["".join(t.itertext()) for t in svg.iter(f"{SVG}text")]
    when = datetime.fromtimestamp(block_time, UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert texts[:2] == ["EcoAI Retirement Certificate", f"No. 1 | {when}"]
    assert "12.5 ECO" in texts and "Seoul Climate Fund" in texts and "For our 2026 inference fleet" in texts
    assert f"retired by {holder.address}" in texts

    tiny = c.metadata(2)
    tiny_attributes = {a["trait_type"]: a["value"] for a in tiny["attributes"]}
    assert tiny_attributes["Amount (ECO)"] == Decimal("0.000000000000000001")
    assert tiny_attributes["Beneficiary"] == holder.address and tiny_attributes["Message"] == ""
    assert tiny_attributes["Holder total retired (ECO)"] == Decimal("12.500000000000000001")
    assert holder.address in ["".join(t.itertext()) for t in c.svg(tiny).iter(f"{SVG}text")]


def xml_visible(text: str) -> str:
    """What an XML parser reads back from the contract's XML escaping of `text`: characters XML 1.0 cannot hold
    become U+FFFD, and line ends are normalised to LF (XML 1.0, section 2.11)."""
    out = "".join("\ufffd" if (ord(ch) < 0x20 and ch not in "\t\n\r") or ch in "\ufffe\uffff" else ch for ch in text)
    return out.replace("\r\n", "\n").replace("\r", "\n")


def test_hostile_strings_are_escaped_for_json_and_for_svg(certs: Certs):
    c, holder = certs, certs.holder
    assert len(HOSTILE_NAME.encode()) <= MAX_NAME and len(HOSTILE_MESSAGE.encode()) <= MAX_MESSAGE
    receipt = c.retire(holder, ECO, HOSTILE_NAME, HOSTILE_MESSAGE)
    [retired] = receipt.decode_logs(c.cert.Retired)
    assert (retired.beneficiaryName, retired.message) == (HOSTILE_NAME, HOSTILE_MESSAGE)

    meta = c.metadata(1)  # strict JSON: would fail on a raw control character or a broken quote
    assert set(meta) == {"name", "description", "image", "attributes"}
    attributes = {a["trait_type"]: a["value"] for a in meta["attributes"]}
    assert len(meta["attributes"]) == 6
    assert attributes["Beneficiary"] == HOSTILE_NAME  # JSON escaping is lossless
    assert attributes["Message"] == HOSTILE_MESSAGE
    assert meta["description"].endswith(f"on behalf of {HOSTILE_NAME}. The ECO were burned; this certificate "
                                        "cannot be transferred (ERC-5192).")
    raw_json = base64.b64decode(c.cert.tokenURI(1).removeprefix("data:application/json;base64,")).decode()
    assert "<" not in raw_json.split('"image"')[0] and "&" not in raw_json.split('"image"')[0]

    svg = c.svg(meta)  # well-formed XML, or ElementTree raises
    assert not [e for e in svg.iter() if e.tag.removeprefix(SVG) not in {"svg", "rect", "text", "tspan"}]
    assert all(not any(k.startswith("on") for k in e.attrib) for e in svg.iter())
    by_y = {t.get("y"): t for t in svg.iter(f"{SVG}text")}
    assert "".join(by_y["238"].itertext()) == xml_visible(HOSTILE_NAME)
    lines = [span.text for span in by_y["268"].iter(f"{SVG}tspan")]
    assert len(lines) > 1 and all(len(line.encode()) <= 48 * 3 for line in lines)
    assert "".join(lines) == xml_visible(HOSTILE_MESSAGE)


def test_longest_name_and_message_fit_and_render(certs: Certs):
    c, holder = certs, certs.holder
    name, message = "W" * MAX_NAME, "日本語🌍" * 19 + "abc"  # 64 bytes; 19 × 13 + 3 = 250 bytes
    message += "é" * ((MAX_MESSAGE - len(message.encode())) // 2)
    assert len(message.encode()) == MAX_MESSAGE
    receipt = c.retire(holder, ECO, name, message)
    print(f"\ngas retire (longest: {MAX_NAME}-byte name, {MAX_MESSAGE}-byte message): {receipt.gas_used}")
    assert receipt.gas_used < 500_000  # 10 of the 17 new storage slots hold the two strings
    meta = c.metadata(1)
    attributes = {a["trait_type"]: a["value"] for a in meta["attributes"]}
    assert (attributes["Beneficiary"], attributes["Message"]) == (name, message)
    by_y = {t.get("y"): t for t in c.svg(meta).iter(f"{SVG}text")}
    assert by_y["238"].text == name and by_y["238"].get("textLength") == "520"
    assert "".join(span.text for span in by_y["268"].iter(f"{SVG}tspan")) == message


def permit_signature(c: Certs, owner: Any, spender: str, value: int, deadline: int) -> tuple[int, bytes, bytes]:
    from eth_account import Account

    domain = {"name": "Eco Credit", "version": "1", "chainId": c.w3.eth.chain_id,
              "verifyingContract": c.credit.address}
    types = {"Permit": [{"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
                        {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
                        {"name": "deadline", "type": "uint256"}]}
    message = {"owner": owner.address, "spender": spender, "value": value,
               "nonce": c.credit.nonces(owner.address), "deadline": deadline}
    signed = Account.sign_typed_data(owner.private_key, domain, types, message)
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


def test_retire_with_permit_is_one_transaction_and_survives_a_front_run_permit(certs: Certs):
    c, holder, outsider = certs, certs.holder, certs.stack.outsider
    deadline = 2**40
    v, r, s = permit_signature(c, holder, c.cert.address, 4 * ECO, deadline)
    receipt = c.cert.retireWithPermit(4 * ECO, "Permit Co", "", deadline, v, r, s, sender=holder)
    print(f"\ngas retireWithPermit: {receipt.gas_used}")
    assert c.cert.ownerOf(1) == holder.address
    assert c.credit.balanceOf(holder.address) == MINTED - 4 * ECO
    assert c.credit.allowance(holder.address, c.cert.address) == 0

    # Someone submits the holder's permit first: the retirement still goes through on the allowance it set.
    v, r, s = permit_signature(c, holder, c.cert.address, ECO, deadline)
    c.credit.permit(holder.address, c.cert.address, ECO, deadline, v, r, s, sender=outsider)
    c.cert.retireWithPermit(ECO, "", "", deadline, v, r, s, sender=holder)
    assert c.cert.retiredBy(holder.address) == 5 * ECO

    # A permit signed by the holder does not let anyone else retire: it names the holder, not the caller.
    v, r, s = permit_signature(c, holder, c.cert.address, ECO, deadline)
    c.rejects("ERC20InsufficientAllowance", c.wcert.retireWithPermit(ECO, "", "", deadline, v, r, s), outsider,
              spender=c.cert.address, allowance=0, needed=ECO)
    # An expired permit and no allowance: the burn refuses.
    c.rejects("ERC20InsufficientAllowance", c.wcert.retireWithPermit(ECO, "", "", 1, v, r, s), holder,
              spender=c.cert.address, allowance=0, needed=ECO)


def test_claimed_credits_from_a_real_proof_can_be_retired(certs: Certs, proofs: Any):
    """The whole path on the stack's real EcoCredit (minter: GreenProof): a real v2 Groth16 proof accepted by
    GreenProof.submit, the beneficiary claims, then retires all of its ECO with a permit in one transaction."""
    from dataclasses import replace

    from oracle.chain.deploy import ape_project

    s = certs.stack
    cert = ape_project().RetirementCertificate.at(s.deployment.address("RetirementCertificate"))
    c = replace(certs, cert=cert, credit=s.credit)
    assert s.credit.minter() == s.green.address
    s.mine_at(proofs.submit_time)
    first = proofs.first
    s.green.submit(*first.submit_args(), sender=s.node)
    s.green.claim(sender=s.beneficiary)
    claimed = c.credit.balanceOf(s.beneficiary.address)
    assert claimed > 0
    supply = c.credit.totalSupply()
    v, r, sig_s = permit_signature(c, s.beneficiary, c.cert.address, claimed, 2**40)
    receipt = c.cert.retireWithPermit(claimed, "EcoAI DAO", f"epoch {first.epoch}", 2**40, v, r, sig_s,
                                      sender=s.beneficiary)
    assert c.credit.balanceOf(s.beneficiary.address) == 0
    assert c.credit.totalSupply() == supply - claimed
    [retired] = receipt.decode_logs(c.cert.Retired)
    assert (retired.tokenId, retired.holder, retired.amount) == (1, s.beneficiary.address, claimed)
    assert c.cert.retiredBy(s.beneficiary.address) == claimed == c.cert.totalRetired()

