//! Who is calling and what they may do: API keys (minting, hashing, verification), the
//! authenticated [`Principal`], and the plugin policies that guard share and unshare.

mod authenticate;
mod builtin;
mod keys;
mod policy;
mod principal;

pub use authenticate::{AuthError, Authenticator};
pub use builtin::Params;
pub use keys::{KeyFormatError, MintedKey, ParsedKey, hash_key, mint_key, parse_key};
pub use policy::{
    CustomStatus, Denial, DenialStatus, Permit, Policy, PolicyChains, PolicyConfig,
    PolicyConfigError, PolicyContext, PolicyParams, PolicyRegistry, Refusal, Verdict,
};
pub use principal::Principal;
pub use storage::WriteGuard;
