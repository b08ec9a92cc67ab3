// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title Eco Credit (ECO)
/// @notice 1 ECO (10^18 base units) = 1 kWh of energy saved compared with doing the same work at the node's
///         efficiency-class baseline. For an epoch proven at efficiency tier tau uJ per unit with W units of work
///         against class baseline beta uJ per unit, GreenProof credits (beta - tau) * min(W, cap) * 10^18 / 3.6e12
///         base units (1 kWh = 3.6e12 uJ).
/// @dev There are no roles. The only minter is fixed once, by the deployer, with `setMinter` (GreenProof), and can
///      never be changed or added to: no admin, governance included, can mint or make anyone else a minter.
///      Holders may burn their own ECO, or ECO they are allowed to spend (ERC20Burnable: burn, burnFrom);
///      RetirementCertificate retires ECO that way, with the holder's allowance.
contract EcoCredit is ERC20, ERC20Burnable, ERC20Permit {
    /// @notice The one account allowed to mint (GreenProof); zero until `setMinter`, then fixed for ever.
    address public minter;

    /// @dev The account that deployed this contract: the only one that may call `setMinter`, once.
    address private immutable _deployer;

    /// @notice The minter was fixed.
    event MinterSet(address indexed minter);

    /// @notice `setMinter` was called by someone other than the deployer.
    error NotDeployer(address caller);
    /// @notice The minter is already fixed.
    error MinterAlreadySet(address minter);
    /// @notice The zero address cannot be the minter.
    error ZeroMinter();
    /// @notice `mint` was called by someone other than the minter.
    error NotMinter(address caller);

    constructor() ERC20("Eco Credit", "ECO") ERC20Permit("Eco Credit") {
        _deployer = msg.sender;
    }

    /// @notice Fixes the minter (GreenProof). Callable once, by the deployer; reverts for ever after.
    /// @param minter_ The contract that mints credits when beneficiaries claim them.
    function setMinter(address minter_) external {
        if (msg.sender != _deployer) revert NotDeployer(msg.sender);
        if (minter != address(0)) revert MinterAlreadySet(minter);
        if (minter_ == address(0)) revert ZeroMinter();
        minter = minter_;
        emit MinterSet(minter_);
    }

    /// @notice Mints `amount` base units to `to`.
    /// @dev Only the minter (GreenProof); anyone else reverts with NotMinter.
    /// @param to Receiver of the new credits.
    /// @param amount Base units (18 decimals) to mint.
    function mint(address to, uint256 amount) external {
        if (msg.sender != minter) revert NotMinter(msg.sender);
        _mint(to, amount);
    }
}
