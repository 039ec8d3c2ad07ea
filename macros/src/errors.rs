//! The one error collector of the macro, as serde_derive's `Ctxt`: parsing
//! and every check report into it, and `check` turns everything reported into
//! one `syn::Error`, so all problems of a workflow show in one compile.

use std::cell::RefCell;
use std::fmt::Display;
use std::thread;

use proc_macro2::Span;
use syn::spanned::Spanned;

/// Collects the errors of one expansion. It must be consumed with
/// [`Errors::check`]: dropping it unchecked is a bug of the macro (errors
/// would be lost), and panics.
pub(crate) struct Errors {
    /// `None` once checked.
    errors: RefCell<Option<Vec<syn::Error>>>,
}

impl Errors {
    /// An empty collector.
    pub(crate) fn new() -> Self {
        Errors {
            errors: RefCell::new(Some(Vec::new())),
        }
    }

    /// Reports `message` at the span of `tokens` (its first token where the
    /// compiler cannot join spans).
    pub(crate) fn error_spanned_by<T: Spanned + ?Sized>(&self, tokens: &T, message: impl Display) {
        self.error_at(tokens.span(), message);
    }

    /// Reports `message` over all of `tokens`, from their first token to
    /// their last (where `error_spanned_by` marks only the first one).
    pub(crate) fn error_over<T: quote::ToTokens + ?Sized>(
        &self,
        tokens: &T,
        message: impl Display,
    ) {
        self.syn_error(syn::Error::new_spanned(tokens, message));
    }

    /// Reports `message` at `span`.
    pub(crate) fn error_at(&self, span: Span, message: impl Display) {
        self.syn_error(syn::Error::new(span, message));
    }

    /// Reports an error syn produced.
    pub(crate) fn syn_error(&self, error: syn::Error) {
        self.errors
            .borrow_mut()
            .as_mut()
            .expect("an error reported after `Errors::check`")
            .push(error);
    }

    /// Every error reported, combined in the order they were reported, or
    /// `Ok` if there were none.
    pub(crate) fn check(self) -> Result<(), syn::Error> {
        let errors = self
            .errors
            .take()
            .expect("`Errors::check` runs once: it consumes the collector");
        let mut errors = errors.into_iter();
        let Some(mut combined) = errors.next() else {
            return Ok(());
        };
        for error in errors {
            combined.combine(error);
        }
        Err(combined)
    }
}

impl Drop for Errors {
    fn drop(&mut self) {
        // While unwinding the collector is dropped unchecked anyway; a second
        // panic would abort and hide the first.
        if !thread::panicking() && self.errors.get_mut().is_some() {
            panic!("the macro dropped its `Errors` without calling `check`");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(result: Result<(), syn::Error>) -> Vec<String> {
        result
            .err()
            .into_iter()
            .flatten()
            .map(|error| error.to_string())
            .collect()
    }

    #[test]
    fn nothing_reported_checks_ok() {
        let cx = Errors::new();
        assert!(cx.check().is_ok());
    }

    #[test]
    fn combines_every_error_in_the_order_reported() {
        let cx = Errors::new();
        cx.error_at(Span::call_site(), "first");
        let ident = syn::Ident::new("x", Span::call_site());
        cx.error_spanned_by(&ident, "second");
        cx.syn_error(syn::Error::new(Span::call_site(), "third"));
        assert_eq!(messages(cx.check()), ["first", "second", "third"]);
    }

    #[test]
    #[should_panic(expected = "without calling `check`")]
    fn dropping_unchecked_panics() {
        let cx = Errors::new();
        cx.error_at(Span::call_site(), "lost");
        drop(cx);
    }
}
