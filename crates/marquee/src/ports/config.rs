//! The configuration port: named string settings (Spin variables, or environment variables
//! natively), parsed and validated once into a typed [`Config`](crate::config::Config).

#[allow(async_fn_in_trait)]
pub trait Settings {
    /// The raw value of a setting (lower-case snake-case name), or `None` when unset.
    async fn get(&self, name: &str) -> Option<String>;
}
