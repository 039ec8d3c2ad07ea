//! tmp
use proc_macro::TokenStream;
/// tmp
#[proc_macro_attribute]
pub fn workflow(_a: TokenStream, item: TokenStream) -> TokenStream { item }
