//! Stage one: parse the attribute and the fn into a typed model, recording
//! what the checks need (spans, loop nesting, literal arguments) and nothing
//! else. Only syntax errors of the attribute are reported here, into the
//! one collector.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Expr, ExprLit, Lit, LitStr, Token};

use crate::errors::Errors;
use crate::symbols::{self, Symbol};

/// The options of `#[workflow(...)]`.
#[derive(Default)]
pub(crate) struct WorkflowOptions {
    /// `name = "..."`.
    pub(crate) name: Option<LitStr>,
    /// `timeout = "..."`.
    pub(crate) timeout: Option<LitStr>,
    /// `on_failure = path::to::hook`.
    pub(crate) on_failure: Option<syn::Path>,
    /// `cron = "0 9 * * 1-5"`.
    pub(crate) cron: Option<LitStr>,
    /// `timezone = "Europe/Berlin"`.
    pub(crate) timezone: Option<LitStr>,
    /// `overlap = "skip" | "allow" | "cancel_previous"`.
    pub(crate) overlap: Option<LitStr>,
}

/// What kind of step a call is: the table the runtime records too.
pub(crate) use durable_grammar::StepKind;

/// How a step call names its step.
pub(crate) enum StepNameArg {
    /// `"name"`.
    Literal(LitStr),
    /// `("name", key)`.
    Keyed(LitStr),
    /// Anything else: the macro cannot check it.
    Other(Span),
    /// No argument at all.
    Missing(Span),
}

/// One step call found in the body: `ctx.<method>(name, ...)`.
pub(crate) struct StepCall {
    pub(crate) kind: StepKind,
    pub(crate) name: StepNameArg,
    /// The method's span, used for the manifest's source line.
    pub(crate) span: Span,
    /// Whether the call sits in a loop or closure body.
    pub(crate) repeated: bool,
    /// The branch scope the call is in: `None` at the top of the body, else
    /// the fan-out's name and a number unique per branch closure.
    pub(crate) scope: Option<(String, usize)>,
    /// Options written with literals, e.g. `("timeout", "30s")`.
    pub(crate) options: Vec<(&'static str, LitStr)>,
}

/// A parameter after `ctx`.
pub(crate) struct Param {
    pub(crate) pat: syn::Pat,
    pub(crate) ty: syn::Type,
}

/// The typed model of one `#[workflow]` fn.
pub(crate) struct WorkflowModel {
    pub(crate) options: WorkflowOptions,
    pub(crate) function: syn::ItemFn,
    /// The first parameter, if it is a typed one: `(pattern, type)`.
    pub(crate) ctx: Option<(syn::Pat, syn::Type)>,
    /// `self` parameters.
    pub(crate) receivers: Vec<Span>,
    pub(crate) params: Vec<Param>,
    pub(crate) steps: Vec<StepCall>,
    /// String literals that must be durations, with what they are for.
    pub(crate) durations: Vec<(&'static str, LitStr)>,
}

impl WorkflowModel {
    /// The model of `function` with the options in `attr`; syntax errors of
    /// the options go to `cx`.
    pub(crate) fn parse(cx: &Errors, attr: TokenStream, function: &syn::ItemFn) -> Self {
        let options = parse_options(cx, attr);
        let mut inputs = function.sig.inputs.iter();
        let mut receivers = Vec::new();
        let mut typed = Vec::new();
        for input in inputs.by_ref() {
            match input {
                syn::FnArg::Receiver(receiver) => receivers.push(receiver.span()),
                syn::FnArg::Typed(pat_type) => typed.push(Param {
                    pat: (*pat_type.pat).clone(),
                    ty: (*pat_type.ty).clone(),
                }),
            }
        }
        let mut typed = typed.into_iter();
        let ctx = typed.next().map(|param| (param.pat, param.ty));
        let params = typed.collect();
        let ctx_ident = ctx.as_ref().and_then(|(pat, _)| match pat {
            syn::Pat::Ident(ident) => Some(ident.ident.to_string()),
            _ => None,
        });
        let mut finder = StepFinder {
            ctx: ctx_ident,
            repeat_depth: 0,
            scope: None,
            scopes_opened: 0,
            branch_arguments: None,
            steps: Vec::new(),
            durations: Vec::new(),
            chain_options: Vec::new(),
        };
        finder.visit_block(&function.block);
        WorkflowModel {
            options,
            function: function.clone(),
            ctx,
            receivers,
            params,
            steps: finder.steps,
            durations: finder.durations,
        }
    }
}

fn parse_options(cx: &Errors, attr: TokenStream) -> WorkflowOptions {
    let mut options = WorkflowOptions::default();
    let parsed = Punctuated::<syn::MetaNameValue, Token![,]>::parse_terminated.parse2(attr);
    let pairs = match parsed {
        Ok(pairs) => pairs,
        Err(error) => {
            cx.error_at(
                error.span(),
                format!(
                    "expected options like `#[workflow({} = \"{}\", {} = \"{}\")]`",
                    symbols::NAME,
                    example(symbols::NAME),
                    symbols::TIMEOUT,
                    example(symbols::TIMEOUT),
                ),
            );
            return options;
        }
    };
    for pair in pairs {
        let key = pair
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        let Some(option) = symbols::OPTIONS.into_iter().find(|option| key == *option) else {
            cx.error_spanned_by(
                &pair.path,
                format!(
                    "unknown option `{key}`; #[workflow] accepts {}",
                    symbols::listed(&symbols::OPTIONS, "`", "and")
                ),
            );
            continue;
        };
        let Some(slot) = options.string_slot(option) else {
            // The one option that is not a string: `on_failure`.
            match &pair.value {
                Expr::Path(path) if options.on_failure.is_none() => {
                    options.on_failure = Some(path.path.clone());
                }
                Expr::Path(_) => cx.error_spanned_by(
                    &pair.path,
                    format!("option `{option}` is given twice; keep one"),
                ),
                other => cx.error_spanned_by(
                    other,
                    format!(
                        "option `{option}` takes the path of an async fn, e.g. `{option} = {}`",
                        example(option)
                    ),
                ),
            }
            continue;
        };
        match string_literal(&pair.value) {
            Some(literal) if slot.is_none() => *slot = Some(literal.clone()),
            Some(_) => cx.error_spanned_by(
                &pair.path,
                format!("option `{option}` is given twice; keep one"),
            ),
            None => cx.error_spanned_by(
                &pair.value,
                format!(
                    "option `{option}` takes a string literal, e.g. `{option} = \"{}\"`",
                    example(option)
                ),
            ),
        }
    }
    options
}

impl WorkflowOptions {
    /// Where the value of a string option goes; `None` for `on_failure`.
    fn string_slot(&mut self, option: Symbol) -> Option<&mut Option<LitStr>> {
        match option {
            symbols::NAME => Some(&mut self.name),
            symbols::TIMEOUT => Some(&mut self.timeout),
            symbols::CRON => Some(&mut self.cron),
            symbols::TIMEZONE => Some(&mut self.timezone),
            symbols::OVERLAP => Some(&mut self.overlap),
            _ => None,
        }
    }
}

/// A value of `option` that messages show as an example.
fn example(option: Symbol) -> &'static str {
    match option {
        symbols::TIMEOUT => "24h",
        symbols::ON_FAILURE => "notify_support",
        symbols::CRON => "0 9 * * 1-5",
        symbols::TIMEZONE => "Europe/Berlin",
        symbols::OVERLAP => symbols::OVERLAP_POLICIES[0].0.as_str(),
        _ => "order-fulfillment",
    }
}

/// The string literal an expression is, through parentheses and groups.
fn string_literal(expr: &Expr) -> Option<&LitStr> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(literal),
            ..
        }) => Some(literal),
        Expr::Paren(inner) => string_literal(&inner.expr),
        Expr::Group(inner) => string_literal(&inner.expr),
        _ => None,
    }
}

/// Walks the body and records every step call on the ctx parameter.
struct StepFinder {
    ctx: Option<String>,
    /// How many loops and closures enclose the current expression.
    repeat_depth: usize,
    /// The branch scope being visited.
    scope: Option<(String, usize)>,
    /// Branch scopes opened so far, to number them.
    scopes_opened: usize,
    /// While visiting the arguments of a fan-out call: its name. Closures met
    /// there are branches.
    branch_arguments: Option<String>,
    steps: Vec<StepCall>,
    durations: Vec<(&'static str, LitStr)>,
    /// Options of builder chains whose root `ctx.step(..)` call is not
    /// visited yet, keyed by the root's address in the syntax tree.
    chain_options: Vec<(*const syn::ExprMethodCall, &'static str, LitStr)>,
}

impl StepFinder {
    fn is_ctx(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Path(path) => match (&self.ctx, path.path.get_ident()) {
                (Some(ctx), Some(ident)) => ident == ctx,
                _ => false,
            },
            Expr::Paren(inner) => self.is_ctx(&inner.expr),
            Expr::Reference(inner) => self.is_ctx(&inner.expr),
            _ => false,
        }
    }

    /// The `ctx.step(..)` call at the root of a builder chain, if any.
    fn step_chain_root<'e>(&self, mut expr: &'e Expr) -> Option<&'e syn::ExprMethodCall> {
        while let Expr::MethodCall(call) = expr {
            let configurable = symbols::CONFIGURABLE_STEPS
                .iter()
                .any(|method| call.method == *method);
            if configurable && self.is_ctx(&call.receiver) {
                return Some(call);
            }
            expr = &call.receiver;
        }
        None
    }

    fn repeated<T>(&mut self, visit: impl FnOnce(&mut Self) -> T) -> T {
        self.repeat_depth += 1;
        let result = visit(self);
        self.repeat_depth -= 1;
        result
    }
}

/// Whether a type is `Ctx` (or a path ending in it).
fn is_ctx_type(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Path(path) if path.path.segments.last().is_some_and(|s| s.ident == symbols::CTX))
}

/// Whether a call is `Retry::<constructor>(..)`.
fn is_retry_constructor(call: &syn::ExprCall) -> bool {
    let Expr::Path(path) = &*call.func else {
        return false;
    };
    let segments: Vec<&syn::Ident> = path.path.segments.iter().map(|s| &s.ident).collect();
    matches!(
        segments.as_slice(),
        [.., retry, constructor] if **retry == symbols::RETRY
            && (**constructor == symbols::FIXED || **constructor == symbols::EXPONENTIAL)
    )
}

/// Whether a method chain starts at a `Retry::<constructor>(..)` call.
fn is_retry_chain(mut expr: &Expr) -> bool {
    loop {
        match expr {
            Expr::MethodCall(call) => expr = &call.receiver,
            Expr::Call(call) => return is_retry_constructor(call),
            _ => return false,
        }
    }
}

impl<'ast> Visit<'ast> for StepFinder {
    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        let method = call.method.to_string();
        if self.is_ctx(&call.receiver)
            && let Some(kind) = StepKind::from_method(&method)
        {
            let name = match call.args.first() {
                None => StepNameArg::Missing(call.method.span()),
                Some(arg) => match (string_literal(arg), arg) {
                    (Some(literal), _) => StepNameArg::Literal(literal.clone()),
                    (None, Expr::Tuple(tuple)) if tuple.elems.len() == 2 => {
                        match tuple.elems.first().and_then(string_literal) {
                            Some(literal) => StepNameArg::Keyed(literal.clone()),
                            None => StepNameArg::Other(arg.span()),
                        }
                    }
                    (None, _) => StepNameArg::Other(arg.span()),
                },
            };
            let this_call = call as *const syn::ExprMethodCall;
            let mut options: Vec<(&'static str, LitStr)> = Vec::new();
            let mut chained: Vec<(&'static str, LitStr)> = Vec::new();
            self.chain_options.retain(|(root, option, literal)| {
                let mine = *root == this_call;
                if mine {
                    chained.push((option, literal.clone()));
                }
                !mine
            });
            // The chain was visited from its end: restore source order.
            chained.reverse();
            let second = call.args.iter().nth(1);
            match kind {
                StepKind::Sleep => {
                    if let Some(duration) = second.and_then(string_literal) {
                        self.durations.push(("sleep duration", duration.clone()));
                        options.push((symbols::DURATION.as_str(), duration.clone()));
                    }
                }
                StepKind::WaitForEvent | StepKind::Listen | StepKind::SendEvent => {
                    if let Some(event) = second.and_then(string_literal) {
                        options.push((symbols::EVENT.as_str(), event.clone()));
                    }
                }
                StepKind::Invoke | StepKind::StartChild => {
                    if let Some(Expr::Path(path)) = second {
                        let text = path
                            .path
                            .segments
                            .iter()
                            .map(|segment| segment.ident.to_string())
                            .collect::<Vec<_>>()
                            .join("::");
                        options.push((symbols::WORKFLOW.as_str(), LitStr::new(&text, path.span())));
                    }
                }
                _ => {}
            }
            options.extend(chained);
            let fan_out_name = match &name {
                StepNameArg::Literal(literal) | StepNameArg::Keyed(literal) => literal.value(),
                _ => String::new(),
            };
            self.steps.push(StepCall {
                kind,
                name,
                span: call.method.span(),
                repeated: self.repeat_depth > 0,
                scope: self.scope.clone(),
                options,
            });
            if kind.has_branches() {
                self.visit_expr(&call.receiver);
                let outer = self.branch_arguments.replace(fan_out_name);
                for arg in &call.args {
                    self.visit_expr(arg);
                }
                self.branch_arguments = outer;
                return;
            }
        }
        if (call.method == symbols::TIMEOUT || call.method == symbols::LOOKBACK)
            && let Some(root) = self.step_chain_root(&call.receiver)
            && let Some(literal) = call.args.first().and_then(string_literal)
        {
            let (what, option) = if call.method == symbols::TIMEOUT {
                ("step timeout", symbols::TIMEOUT.as_str())
            } else {
                ("event lookback", symbols::LOOKBACK.as_str())
            };
            self.durations.push((what, literal.clone()));
            // The chain's root `ctx.step(..)` is visited after this call
            // (receivers are visited inside out), so the option waits for it.
            self.chain_options
                .push((root as *const _, option, literal.clone()));
        }
        if call.method == symbols::MAX_DELAY
            && is_retry_chain(&call.receiver)
            && let Some(literal) = call.args.first().and_then(string_literal)
        {
            self.durations.push(("retry delay", literal.clone()));
        }
        syn::visit::visit_expr_method_call(self, call);
    }

    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        if is_retry_constructor(call)
            && let Some(literal) = call.args.iter().nth(1).and_then(string_literal)
        {
            self.durations.push(("retry delay", literal.clone()));
        }
        syn::visit::visit_expr_call(self, call);
    }

    fn visit_expr_for_loop(&mut self, node: &'ast syn::ExprForLoop) {
        self.visit_expr(&node.expr);
        self.repeated(|this| this.visit_block(&node.body));
    }

    fn visit_expr_while(&mut self, node: &'ast syn::ExprWhile) {
        self.repeated(|this| {
            this.visit_expr(&node.cond);
            this.visit_block(&node.body);
        });
    }

    fn visit_expr_loop(&mut self, node: &'ast syn::ExprLoop) {
        self.repeated(|this| this.visit_block(&node.body));
    }

    fn visit_expr_closure(&mut self, node: &'ast syn::ExprClosure) {
        // The closure's first parameter, and whether it is a context: typed
        // `Ctx`, or named like the context it shadows.
        let (first_param, takes_ctx) = match node.inputs.first() {
            Some(syn::Pat::Ident(ident)) => {
                let name = ident.ident.to_string();
                let shadows = self.ctx.as_deref() == Some(name.as_str());
                (Some(name), shadows)
            }
            Some(syn::Pat::Type(typed)) => match &*typed.pat {
                syn::Pat::Ident(ident) => (Some(ident.ident.to_string()), is_ctx_type(&typed.ty)),
                _ => (None, false),
            },
            _ => (None, false),
        };
        let fan_out = match self.branch_arguments.take() {
            Some(fan_out) => fan_out,
            // A closure handed its own context is a branch body written
            // apart from its fan-out call (`let check = async |ctx: Ctx, ..|`).
            None if takes_ctx => String::new(),
            None => {
                self.repeated(|this| this.visit_expr(&node.body));
                return;
            }
        };
        // A branch: its own scope, its own `ctx` (the closure's first
        // parameter), and no loop around it.
        let branch_ctx = first_param;
        self.scopes_opened += 1;
        let scope = Some((fan_out.clone(), self.scopes_opened));
        let outer_ctx = std::mem::replace(&mut self.ctx, branch_ctx);
        let outer_depth = std::mem::replace(&mut self.repeat_depth, 0);
        let outer_scope = std::mem::replace(&mut self.scope, scope);
        self.visit_expr(&node.body);
        self.ctx = outer_ctx;
        self.repeat_depth = outer_depth;
        self.scope = outer_scope;
        // Sibling closures (the other branches of `parallel`) are branches too.
        if !fan_out.is_empty() {
            self.branch_arguments = Some(fan_out);
        }
    }

    fn visit_item(&mut self, _item: &'ast syn::Item) {
        // A nested item has its own scope: its `ctx`, if any, is not ours.
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        // Look into macros whose arguments are expressions (`join!`,
        // `try_join!`, `vec!`, `format!`...); others stay opaque.
        let parser = Punctuated::<Expr, Token![,]>::parse_terminated;
        if let Ok(exprs) = parser.parse2(mac.tokens.clone()) {
            for expr in &exprs {
                self.visit_expr(expr);
            }
        }
    }
}
