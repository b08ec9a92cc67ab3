// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {Base64} from "@openzeppelin/contracts/utils/Base64.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";

/// @notice ERC-5192: minimal soulbound NFTs. `locked` is true for every certificate, for ever.
interface IERC5192 {
    /// @notice The token was locked (emitted once, when a certificate is minted).
    event Locked(uint256 tokenId);
    /// @notice The token was unlocked (never emitted: certificates stay locked).
    event Unlocked(uint256 tokenId);

    /// @notice Whether `tokenId` is locked (non-transferable); reverts for a token that does not exist.
    function locked(uint256 tokenId) external view returns (bool);
}

/// @notice The part of EcoCredit (ERC-20 + ERC20Burnable + ERC-2612 permit) that retirement uses.
interface IEcoCreditBurnable is IERC20Permit {
    /// @notice Burns `value` of `account`'s ECO out of the caller's allowance from `account`.
    function burnFrom(address account, uint256 value) external;
}

/// @title RetirementCertificate: retire Eco Credits and keep a soulbound certificate of it
/// @notice A holder retires ECO by burning it; in the same call it receives a non-transferable ERC-721
///         (ERC-5192, always locked) recording who retired how much, on whose behalf, with which message and
///         when. Metadata and image live on chain: `tokenURI` is a base64 JSON data URI whose `image` is a
///         base64 SVG data URI built from the certificate's own fields.
/// @dev There is no owner, role or admin: the only way to mint a certificate is `retire` (or
///      `retireWithPermit`), which first burns the caller's own ECO through `EcoCredit.burnFrom`, so it needs
///      the caller's allowance to this contract (an `approve`, or the permit) and the caller's balance. Nobody,
///      governance included, can mint a certificate without burning, or retire someone else's ECO.
///
///      Which credits a certificate draws on: ECO is fungible, so once claimed a unit carries no trace of the
///      epochs GreenProof accepted for it; any epoch or period range printed on a certificate would be an
///      assertion nobody can check. A certificate therefore records only what the retiring transaction itself
///      establishes on chain: the amount burned, the block timestamp of the burn, and the holder's cumulative
///      amount retired up to and including this certificate (`holderTotal`), so a holder's certificates form a
///      running sum anyone can check against the `Retired` events. The proofs behind every ECO in existence are
///      public in GreenProof's `EpochProved` and `CreditsClaimed` events up to the retirement's block.
///
///      User strings are bounded in bytes (MAX_NAME_LENGTH, MAX_MESSAGE_LENGTH), must be valid UTF-8 (so the
///      JSON, the SVG and every event decoder can read them), and are escaped for JSON and for XML on output.
contract RetirementCertificate is ERC721, IERC5192 {
    using Strings for uint256;

    /// @notice Longest beneficiary name, in bytes of UTF-8.
    uint256 public constant MAX_NAME_LENGTH = 64;
    /// @notice Longest retirement message, in bytes of UTF-8.
    uint256 public constant MAX_MESSAGE_LENGTH = 256;

    uint256 private constant MESSAGE_LINE_BYTES = 48; // message bytes per line of the SVG
    uint256 private constant HIGH_BITS = 0x8080808080808080808080808080808080808080808080808080808080808080;

    /// @notice One retirement. The holder is the certificate's owner (which never changes).
    struct Certificate {
        uint96 amount; // ECO base units burned
        uint40 retiredAt; // block timestamp of the burn
        uint120 holderTotal; // holder's cumulative ECO retired, this certificate included
        string beneficiaryName; // on whose behalf; empty: the holder itself
        string message;
    }

    /// @notice The Eco Credit token that retirements burn.
    IEcoCreditBurnable public immutable credit;

    uint128 private _totalRetired;
    uint128 private _count;
    mapping(address holder => uint256) private _retiredBy;
    mapping(uint256 tokenId => Certificate) private _certificates;

    /// @notice `holder` burned `amount` ECO base units on behalf of `beneficiaryName` and received `tokenId`.
    event Retired(
        uint256 indexed tokenId, address indexed holder, uint256 amount, string beneficiaryName, string message
    );

    /// @notice Retiring nothing is refused.
    error ZeroAmount();
    /// @notice One retirement is at most `max` base units (2^96 - 1, about 79 billion ECO).
    error AmountTooLarge(uint256 amount, uint256 max);
    /// @notice The beneficiary name is `length` bytes, above `maxLength`.
    error NameTooLong(uint256 length, uint256 maxLength);
    /// @notice The message is `length` bytes, above `maxLength`.
    error MessageTooLong(uint256 length, uint256 maxLength);
    /// @notice The beneficiary name is not valid UTF-8 at byte `offset`.
    error NameNotUtf8(uint256 offset);
    /// @notice The message is not valid UTF-8 at byte `offset`.
    error MessageNotUtf8(uint256 offset);
    /// @notice Certificates are soulbound: `tokenId` can be neither transferred nor approved.
    error NonTransferable(uint256 tokenId);
    /// @notice Certificates are soulbound: no operator (here `operator`) can be approved.
    error ApprovalsDisabled(address operator);

    /// @param credit_ The EcoCredit token (must offer ERC20Burnable's burnFrom and ERC-2612 permit).
    constructor(IEcoCreditBurnable credit_) ERC721("EcoAI Retirement Certificate", "ECORC") {
        credit = credit_;
    }

    // ---------------------------------------------------------------- retiring

    /// @notice Burns `amount` of the caller's ECO and mints the caller a soulbound certificate of it.
    /// @dev Needs `credit.approve(address(this), amount)` first (or use `retireWithPermit`). Reverts with
    ///      ZeroAmount, AmountTooLarge, NameTooLong, MessageTooLong, NameNotUtf8, MessageNotUtf8, or EcoCredit's
    ///      ERC20InsufficientAllowance / ERC20InsufficientBalance.
    /// @param amount ECO base units (18 decimals) to retire.
    /// @param beneficiaryName On whose behalf (UTF-8, at most MAX_NAME_LENGTH bytes; empty: the caller).
    /// @param message Retirement message (UTF-8, at most MAX_MESSAGE_LENGTH bytes, may be empty).
    /// @return tokenId The new certificate's id (ids count up from 1).
    function retire(uint256 amount, string calldata beneficiaryName, string calldata message)
        external
        returns (uint256 tokenId)
    {
        return _retire(amount, beneficiaryName, message);
    }

    /// @notice `retire` in one transaction: an ERC-2612 permit of `amount` from the caller to this contract,
    ///         then the retirement.
    /// @dev A permit that fails (for example because someone front-ran it with the same signature, which
    ///      already set the allowance) is ignored; the burn then still needs the allowance.
    /// @param amount ECO base units to retire (also the permit's value).
    /// @param beneficiaryName On whose behalf (see `retire`).
    /// @param message Retirement message (see `retire`).
    /// @param deadline The permit's deadline (unix seconds).
    /// @param v The permit signature's v.
    /// @param r The permit signature's r.
    /// @param s The permit signature's s.
    /// @return tokenId The new certificate's id.
    function retireWithPermit(
        uint256 amount,
        string calldata beneficiaryName,
        string calldata message,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256 tokenId) {
        try credit.permit(msg.sender, address(this), amount, deadline, v, r, s) {} catch {}
        return _retire(amount, beneficiaryName, message);
    }

    // ---------------------------------------------------------------- views

    /// @notice ECO base units retired through this contract, by everyone.
    function totalRetired() external view returns (uint256) {
        return _totalRetired;
    }

    /// @notice ECO base units retired by `holder`.
    function retiredBy(address holder) external view returns (uint256) {
        return _retiredBy[holder];
    }

    /// @notice Number of certificates; their ids are 1 to totalSupply().
    function totalSupply() external view returns (uint256) {
        return _count;
    }

    /// @notice The retirement recorded by `tokenId` (reverts with ERC721NonexistentToken if there is none).
    /// @return holder Who burned the ECO (the certificate's owner).
    /// @return amount ECO base units burned.
    /// @return retiredAt Block timestamp of the burn.
    /// @return holderTotal The holder's cumulative ECO retired, this certificate included.
    /// @return beneficiaryName On whose behalf (empty: the holder).
    /// @return message The retirement message.
    function certificate(uint256 tokenId)
        external
        view
        returns (
            address holder,
            uint256 amount,
            uint256 retiredAt,
            uint256 holderTotal,
            string memory beneficiaryName,
            string memory message
        )
    {
        holder = _requireOwned(tokenId);
        Certificate storage c = _certificates[tokenId];
        return (holder, c.amount, c.retiredAt, c.holderTotal, c.beneficiaryName, c.message);
    }

    /// @inheritdoc IERC5192
    function locked(uint256 tokenId) external view returns (bool) {
        _requireOwned(tokenId);
        return true;
    }

    /// @notice ERC-165: ERC-721, its metadata extension, ERC-5192 and ERC-165.
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IERC5192).interfaceId || super.supportsInterface(interfaceId);
    }

    /// @notice On-chain metadata: `data:application/json;base64,` JSON with name, description, image (a
    ///         `data:image/svg+xml;base64,` SVG) and attributes (OpenSea metadata conventions).
    function tokenURI(uint256 tokenId) public view override returns (string memory) {
        address holder = _requireOwned(tokenId);
        Certificate storage c = _certificates[tokenId];
        string memory beneficiary = bytes(c.beneficiaryName).length == 0
            ? Strings.toChecksumHexString(holder)
            : c.beneficiaryName;
        string memory eco = _eco(c.amount);
        string memory json = string.concat(
            '{"name":"EcoAI Retirement Certificate #',
            tokenId.toString(),
            '","description":"',
            Strings.toChecksumHexString(holder),
            " retired ",
            eco,
            " ECO (1 ECO = 1 kWh of energy saved below the hardware-class baseline of a node, proven with Groth16",
            " on EcoAI) on behalf of ",
            _escapeJson(beneficiary),
            '. The ECO were burned; this certificate cannot be transferred (ERC-5192).",',
            '"image":"data:image/svg+xml;base64,',
            Base64.encode(bytes(_svg(tokenId, c, holder, beneficiary, eco))),
            '","attributes":',
            _attributes(c, holder, beneficiary, eco),
            "}"
        );
        return string.concat("data:application/json;base64,", Base64.encode(bytes(json)));
    }

    // ---------------------------------------------------------------- soulbound

    /// @notice Always reverts: certificates cannot be approved (NonTransferable).
    function approve(address, uint256 tokenId) public virtual override {
        revert NonTransferable(tokenId);
    }

    /// @notice Always reverts: certificates cannot be approved (ApprovalsDisabled).
    function setApprovalForAll(address operator, bool) public virtual override {
        revert ApprovalsDisabled(operator);
    }

    /// @dev Mints only: any transfer (transferFrom, both safeTransferFrom) or burn of an existing certificate
    ///      reverts with NonTransferable.
    function _update(address to, uint256 tokenId, address auth) internal override returns (address) {
        if (_ownerOf(tokenId) != address(0)) revert NonTransferable(tokenId);
        return super._update(to, tokenId, auth);
    }

    // ---------------------------------------------------------------- internals

    /// @dev Checks the input, burns `amount` of the caller's ECO, records the retirement and mints its
    ///      certificate to the caller (`_mint`, not `_safeMint`: a soulbound token needs no receiver hook, and
    ///      contract wallets without one can still retire).
    function _retire(uint256 amount, string calldata beneficiaryName, string calldata message)
        private
        returns (uint256 tokenId)
    {
        if (amount == 0) revert ZeroAmount();
        if (amount > type(uint96).max) revert AmountTooLarge(amount, type(uint96).max);
        uint256 nameLength = bytes(beneficiaryName).length;
        if (nameLength > MAX_NAME_LENGTH) revert NameTooLong(nameLength, MAX_NAME_LENGTH);
        uint256 messageLength = bytes(message).length;
        if (messageLength > MAX_MESSAGE_LENGTH) revert MessageTooLong(messageLength, MAX_MESSAGE_LENGTH);
        uint256 bad = _utf8ErrorAt(bytes(beneficiaryName));
        if (bad != type(uint256).max) revert NameNotUtf8(bad);
        bad = _utf8ErrorAt(bytes(message));
        if (bad != type(uint256).max) revert MessageNotUtf8(bad);

        // Burn first: without the caller's balance and allowance nothing below happens.
        credit.burnFrom(msg.sender, amount);

        uint256 holderTotal = _retiredBy[msg.sender] + amount;
        _retiredBy[msg.sender] = holderTotal;
        tokenId = uint256(_count) + 1;
        // The casts cannot fail in practice: they would need 2^24 (holder) or 2^32 (total) retirements of the
        // largest allowed amount.
        (_totalRetired, _count) = (SafeCast.toUint128(_totalRetired + amount), uint128(tokenId));
        Certificate storage c = _certificates[tokenId];
        c.amount = uint96(amount); // checked above
        c.retiredAt = uint40(block.timestamp); // until the year 36812
        c.holderTotal = SafeCast.toUint120(holderTotal);
        if (nameLength != 0) c.beneficiaryName = beneficiaryName;
        if (messageLength != 0) c.message = message;

        _mint(msg.sender, tokenId);
        emit Locked(tokenId);
        emit Retired(tokenId, msg.sender, amount, beneficiaryName, message);
    }

    /// @dev The JSON attributes array.
    function _attributes(Certificate storage c, address holder, string memory beneficiary, string memory eco)
        private
        view
        returns (string memory)
    {
        return string.concat(
            '[{"trait_type":"Amount (ECO)","display_type":"number","value":',
            eco,
            '},{"trait_type":"Beneficiary","value":"',
            _escapeJson(beneficiary),
            '"},{"trait_type":"Message","value":"',
            _escapeJson(c.message),
            '"},{"trait_type":"Holder","value":"',
            Strings.toChecksumHexString(holder),
            '"},{"trait_type":"Retired at","display_type":"date","value":',
            uint256(c.retiredAt).toString(),
            '},{"trait_type":"Holder total retired (ECO)","display_type":"number","value":',
            _eco(c.holderTotal),
            "}]"
        );
    }

    /// @dev The certificate image: a 600x400 SVG of the certificate's fields, every user string XML-escaped.
    function _svg(
        uint256 tokenId,
        Certificate storage c,
        address holder,
        string memory beneficiary,
        string memory eco
    ) private view returns (string memory) {
        string memory head = string.concat(
            '<svg xmlns="http://www.w3.org/2000/svg" width="600" height="400" viewBox="0 0 600 400" ',
            'font-family="Helvetica,Arial,sans-serif"><rect width="600" height="400" rx="24" fill="#0b3d2e"/>',
            '<rect x="14" y="14" width="572" height="372" rx="16" fill="none" stroke="#7ee2a8" stroke-width="2"/>',
            '<text x="40" y="62" font-size="22" fill="#7ee2a8">EcoAI Retirement Certificate</text>',
            '<text x="40" y="88" font-size="13" fill="#cfe8dc">No. ',
            tokenId.toString(),
            " | ",
            _dateTime(c.retiredAt),
            '</text><text x="40" y="146" font-size="40" font-weight="bold" fill="#ffffff">',
            eco,
            ' ECO</text><text x="40" y="172" font-size="13" fill="#cfe8dc">retired and burned: ',
            eco,
            " kWh saved below baseline, proven with Groth16</text>"
        );
        return string.concat(
            head,
            '<text x="40" y="212" font-size="13" fill="#cfe8dc">on behalf of</text><text x="40" y="238" ',
            'font-size="18" fill="#ffffff"',
            _charCount(bytes(beneficiary)) > 44 ? ' textLength="520" lengthAdjust="spacingAndGlyphs">' : ">",
            _escapeXml(bytes(beneficiary)),
            "</text>",
            _messageLines(bytes(c.message)),
            '<text x="40" y="370" font-size="11" fill="#8fb8a6">retired by ',
            Strings.toChecksumHexString(holder),
            "</text></svg>"
        );
    }

    /// @dev The message as <text> lines of at most MESSAGE_LINE_BYTES bytes, never splitting a UTF-8 character.
    function _messageLines(bytes memory message) private pure returns (string memory out) {
        if (message.length == 0) return "";
        out = '<text x="40" y="268" font-size="13" fill="#e6f4ec">';
        uint256 start;
        for (uint256 line; start < message.length; ++line) {
            uint256 end = start + MESSAGE_LINE_BYTES;
            if (end >= message.length) {
                end = message.length;
            } else {
                while (uint8(message[end]) & 0xC0 == 0x80) --end; // back off to a character's first byte
            }
            bytes memory part = new bytes(end - start);
            for (uint256 i; i < part.length; ++i) part[i] = message[start + i];
            out = string.concat(out, '<tspan x="40" dy="', line == 0 ? "0" : "16", '">', _escapeXml(part), "</tspan>");
            start = end;
        }
        out = string.concat(out, "</text>");
    }

    /// @dev `value` base units as a decimal number of ECO: integer part, then up to 18 decimals without
    ///      trailing zeros ("12.5", "3", "0.000000000000000001"). A valid JSON number.
    function _eco(uint256 value) private pure returns (string memory) {
        uint256 whole = value / 1e18;
        uint256 fraction = value % 1e18;
        if (fraction == 0) return whole.toString();
        uint256 digits = 18;
        while (fraction % 10 == 0) {
            fraction /= 10;
            --digits;
        }
        bytes memory decimals = bytes(fraction.toString());
        bytes memory zeros = new bytes(digits - decimals.length);
        for (uint256 i; i < zeros.length; ++i) zeros[i] = "0";
        return string.concat(whole.toString(), ".", string(zeros), string(decimals));
    }

    /// @dev `timestamp` as "YYYY-MM-DD HH:MM UTC".
    function _dateTime(uint256 timestamp) private pure returns (string memory) {
        return string.concat(
            _date(timestamp / 86400),
            " ",
            _twoDigits((timestamp % 86400) / 3600),
            ":",
            _twoDigits((timestamp % 3600) / 60),
            " UTC"
        );
    }

    /// @dev Day `day` since 1970-01-01 as "YYYY-MM-DD" (proleptic Gregorian; H. Hinnant's civil_from_days).
    function _date(uint256 day) private pure returns (string memory) {
        uint256 z = day + 719468;
        uint256 era = z / 146097;
        uint256 doe = z - era * 146097;
        uint256 yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        uint256 doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        uint256 mp = (5 * doy + 2) / 153;
        uint256 month = mp < 10 ? mp + 3 : mp - 9;
        uint256 year = yoe + era * 400 + (month <= 2 ? 1 : 0);
        return string.concat(year.toString(), "-", _twoDigits(month), "-", _twoDigits(doy - (153 * mp + 2) / 5 + 1));
    }

    /// @dev `value` (below 100) as two decimal digits.
    function _twoDigits(uint256 value) private pure returns (string memory) {
        return value < 10 ? string.concat("0", value.toString()) : value.toString();
    }

    /// @dev Number of UTF-8 characters of a valid UTF-8 string.
    function _charCount(bytes memory text) private pure returns (uint256 count) {
        for (uint256 i; i < text.length; ++i) {
            if (uint8(text[i]) & 0xC0 != 0x80) ++count;
        }
    }

    /// @dev `text` escaped for a double-quoted JSON string: `"` and `\` backslash-escaped, every control
    ///      character (U+0000-U+001F) as \n, \r, \t or \u00XX, and `<`, `>`, `&`, `'` as \u00XX so the JSON
    ///      can also sit inside HTML. (OpenZeppelin's Strings.escapeJSON leaves most control characters raw.)
    function _escapeJson(string memory text) private pure returns (string memory) {
        bytes memory input = bytes(text);
        bytes memory out = new bytes(input.length * 6);
        uint256 n;
        for (uint256 i; i < input.length; ++i) {
            bytes1 ch = input[i];
            if (ch == '"' || ch == "\\") {
                out[n++] = "\\";
                out[n++] = ch;
            } else if (ch == "\n") {
                out[n++] = "\\";
                out[n++] = "n";
            } else if (ch == "\r") {
                out[n++] = "\\";
                out[n++] = "r";
            } else if (ch == "\t") {
                out[n++] = "\\";
                out[n++] = "t";
            } else if (uint8(ch) < 0x20 || ch == "<" || ch == ">" || ch == "&" || ch == "'") {
                out[n++] = "\\";
                out[n++] = "u";
                out[n++] = "0";
                out[n++] = "0";
                out[n++] = _hexDigit(uint8(ch) >> 4);
                out[n++] = _hexDigit(uint8(ch) & 15);
            } else {
                out[n++] = ch;
            }
        }
        return _truncated(out, n);
    }

    /// @dev Valid UTF-8 `text` escaped for XML character data and attribute values: `&`, `<`, `>`, `"`, `'`
    ///      as entities; characters XML 1.0 does not allow (controls other than tab, LF, CR; U+FFFE, U+FFFF)
    ///      replaced by U+FFFD.
    function _escapeXml(bytes memory input) private pure returns (string memory) {
        bytes memory out = new bytes(input.length * 6);
        uint256 n;
        for (uint256 i; i < input.length; ++i) {
            bytes1 ch = input[i];
            bytes memory entity;
            if (ch == "&") entity = "&amp;";
            else if (ch == "<") entity = "&lt;";
            else if (ch == ">") entity = "&gt;";
            else if (ch == '"') entity = "&quot;";
            else if (ch == "'") entity = "&apos;";
            else if (uint8(ch) < 0x20 && ch != "\t" && ch != "\n" && ch != "\r") entity = "\xef\xbf\xbd";
            else if (
                ch == 0xEF && i + 2 < input.length && input[i + 1] == 0xBF && uint8(input[i + 2]) >= 0xBE
            ) {
                entity = "\xef\xbf\xbd";
                i += 2;
            }
            if (entity.length == 0) {
                out[n++] = ch;
            } else {
                for (uint256 k; k < entity.length; ++k) out[n++] = entity[k];
            }
        }
        return _truncated(out, n);
    }

    /// @dev Sets `buffer`'s length to `length` (at most its allocated length) and returns it as a string.
    function _truncated(bytes memory buffer, uint256 length) private pure returns (string memory) {
        assembly ("memory-safe") {
            mstore(buffer, length)
        }
        return string(buffer);
    }

    /// @dev The lowercase hexadecimal digit of `value` (below 16).
    function _hexDigit(uint8 value) private pure returns (bytes1) {
        return bytes1(value < 10 ? 48 + value : 87 + value);
    }

    /// @dev Offset of the first byte of `text` that is not valid UTF-8 (RFC 3629: no overlong forms, no
    ///      surrogates, nothing above U+10FFFF), or type(uint256).max when all of it is valid.
    function _utf8ErrorAt(bytes calldata text) private pure returns (uint256 bad) {
        // Assembly: the same checks in Solidity cost about 1,000 gas per multi-byte character.
        assembly ("memory-safe") {
            bad := not(0)
            let p := text.offset
            let end := add(p, text.length)
            for {} lt(p, end) {} {
                let word := calldataload(p) // bytes past the end of calldata read as zero
                // 32 ASCII bytes at once.
                if and(iszero(gt(add(p, 32), end)), iszero(and(word, HIGH_BITS))) {
                    p := add(p, 32)
                    continue
                }
                let ch := byte(0, word)
                if lt(ch, 0x80) {
                    p := add(p, 1)
                    continue
                }
                let size := 0
                let lo := 0x80 // allowed range of the second byte
                let hi := 0xBF
                if and(gt(ch, 0xC1), lt(ch, 0xE0)) { size := 2 }
                if and(gt(ch, 0xDF), lt(ch, 0xF0)) {
                    size := 3
                    if eq(ch, 0xE0) { lo := 0xA0 } // overlong
                    if eq(ch, 0xED) { hi := 0x9F } // surrogates
                }
                if and(gt(ch, 0xEF), lt(ch, 0xF5)) {
                    size := 4
                    if eq(ch, 0xF0) { lo := 0x90 } // overlong
                    if eq(ch, 0xF4) { hi := 0x8F } // above U+10FFFF
                }
                let second := byte(1, word)
                let ok := and(gt(size, 0), iszero(gt(add(p, size), end)))
                ok := and(ok, and(iszero(lt(second, lo)), iszero(gt(second, hi))))
                if gt(size, 2) { ok := and(ok, eq(and(byte(2, word), 0xC0), 0x80)) }
                if gt(size, 3) { ok := and(ok, eq(and(byte(3, word), 0xC0), 0x80)) }
                if iszero(ok) {
                    bad := sub(p, text.offset)
                    break
                }
                p := add(p, size)
            }
        }
    }
}
