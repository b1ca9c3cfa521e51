//! Who is calling and what they may do: API keys (minting, hashing, verification), the
//! authenticated [`Principal`], and the plugin policies that guard share and unshare.

mod authenticate;
mod builtin;
pub mod cache;
mod chains;
mod keys;
mod policy;
mod principal;
pub mod rules;
mod standing;

pub use authenticate::{AuthError, Authenticator, member_principal};
pub use builtin::Params;
pub use cache::{KeyCache, KeyCacheSettings};
pub use chains::{
    Check, Permit, PolicyChains, PolicyConfig, PolicyConfigError, PolicyParams, PolicyRegistry,
    Refusal,
};
pub use keys::{KeyFormatError, MintedKey, ParsedKey, hash_key, mint_key, parse_key};
pub use policy::{CustomStatus, Denial, DenialStatus, Policy, PolicyContext, Verdict};
pub use principal::Principal;
pub use rules::CelRule;
pub use standing::Standing;
pub use storage::WriteGuard;
