// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title Eco Credit (ECO)
/// @notice 1 ECO (10^18 base units) = 1 kWh of energy saved below a node's hardware-class baseline in a
///         proven epoch. For an epoch proven at threshold T mJ against class baseline B mJ, GreenProof credits
///         (B - T) * 10^18 / 3.6e9 base units: the proof shows energy <= T, so at least B - T was saved.
/// @dev Credits are minted only by GreenProof (MINTER_ROLE), when a beneficiary claims its accrued credits.
///      Holders may burn their own ECO, or ECO they are allowed to spend (ERC20Burnable: burn, burnFrom);
///      RetirementCertificate retires ECO that way, with the holder's allowance.
contract EcoCredit is ERC20, ERC20Burnable, ERC20Permit, AccessControl {
    /// @notice Role allowed to mint; granted to GreenProof at deployment.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @param admin Governance (DAO timelock or multisig) that manages roles.
    constructor(address admin) ERC20("Eco Credit", "ECO") ERC20Permit("Eco Credit") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Mints `amount` base units to `to`.
    /// @dev Only MINTER_ROLE (GreenProof); anyone else reverts with AccessControlUnauthorizedAccount.
    /// @param to Receiver of the new credits.
    /// @param amount Base units (18 decimals) to mint.
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }
}
