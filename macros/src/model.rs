//! Stage one: parse the attribute and the fn into a typed model, recording
//! what the checks need (spans, loop nesting, `if`/`match` arms, literal
//! arguments, calls a replay would not repeat, written step output types)
//! and nothing else. Only syntax errors of the attribute are reported here,
//! into the one collector.

mod allow;
mod chain;
mod flow_control;
mod options;
mod outputs;
mod typed;

use std::collections::HashSet;

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Expr, LitStr, Token};

use crate::errors::Errors;
use crate::symbols::{self, Nondeterminism};

pub(crate) use self::flow_control::FlowOption;
pub(crate) use self::options::WorkflowOptions;
use self::options::{parse_options, string_literal};
pub(crate) use self::typed::TypedEvent;

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
    /// The branches of `if`/`match` the call is in, outermost first: for
    /// each, a number unique per `if` or `match` and the arm's index. Two
    /// calls whose lists first differ in the arm of the same `if`/`match`
    /// never both run.
    pub(crate) arms: Vec<(usize, usize)>,
    /// For the typed forms `ctx.wait_for::<E>(..)` and `ctx.publish(..)`:
    /// the event type, where the source writes it.
    pub(crate) typed_event: Option<TypedEvent>,
}

/// What a duration literal in the body is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DurationUse {
    /// `ctx.sleep(name, "5m")`.
    Sleep,
    /// `.timeout("30s")` of a step or a wait.
    StepTimeout,
    /// `.timeout("1h")` of `ctx.invoke(..)` or `ctx.start_child(..)`.
    InvokeTimeout,
    /// `.lookback("1h")` of an event wait.
    Lookback,
    /// The delays of `Retry::fixed`/`exponential(..).max_delay(..)`.
    RetryDelay,
    /// `ctx.set_deadline(name, "2h")`: the run's new deadline, from now.
    Deadline,
}

impl DurationUse {
    /// What messages call it.
    pub(crate) fn label(self) -> &'static str {
        match self {
            DurationUse::Sleep => "sleep duration",
            DurationUse::StepTimeout => "step timeout",
            DurationUse::InvokeTimeout => "invoke timeout",
            DurationUse::Lookback => "event lookback",
            DurationUse::RetryDelay => "retry delay",
            DurationUse::Deadline => "deadline",
        }
    }
}

/// A call in workflow code, outside every step body, that a replay would
/// not repeat the same: `SystemTime::now()`, `rand::random()`...
pub(crate) struct NondeterministicCall {
    pub(crate) class: Nondeterminism,
    /// The path as written, e.g. `SystemTime::now`.
    pub(crate) path: syn::Path,
    /// Whether its statement is marked `#[durable::allow_nondeterministic]`.
    pub(crate) allowed: bool,
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
    pub(crate) durations: Vec<(DurationUse, LitStr)>,
    /// The literals of `.queue("..")` on `ctx.invoke(..)` and
    /// `ctx.start_child(..)`, which must be queue names.
    pub(crate) queues: Vec<LitStr>,
    /// Nondeterministic calls in workflow code.
    pub(crate) nondeterministic: Vec<NondeterministicCall>,
    /// Step output types written in the source.
    pub(crate) step_outputs: Vec<syn::Type>,
    /// Step bodies that end in a bare `Ok(..)` with nothing naming their
    /// error type: the `Ok`, and whether the body could be a `compute`.
    pub(crate) untyped_oks: Vec<(Span, bool)>,
}

impl WorkflowModel {
    /// The model of `function` with the options in `attr`; syntax errors of
    /// the options go to `cx`. The model's fn is `function` without its
    /// `#[durable::allow_nondeterministic]` attributes.
    pub(crate) fn parse(cx: &Errors, attr: TokenStream, function: &syn::ItemFn) -> Self {
        let options = parse_options(cx, attr);
        let mut function = function.clone();
        let allowed = allow::strip_allowances(&mut function);
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
            queues: Vec::new(),
            chain_options: Vec::new(),
            allowed,
            allowed_depth: 0,
            step_body_depth: 0,
            arms: Vec::new(),
            constructs_opened: 0,
            nondeterministic: Vec::new(),
            step_outputs: Vec::new(),
            untyped_oks: Vec::new(),
        };
        finder.visit_block(&function.block);
        WorkflowModel {
            options,
            ctx,
            receivers,
            params,
            steps: finder.steps,
            durations: finder.durations,
            queues: finder.queues,
            nondeterministic: finder.nondeterministic,
            step_outputs: finder.step_outputs,
            untyped_oks: finder.untyped_oks,
            function,
        }
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
    durations: Vec<(DurationUse, LitStr)>,
    queues: Vec<LitStr>,
    /// Statements marked `#[durable::allow_nondeterministic]`, by address.
    allowed: HashSet<*const syn::Stmt>,
    /// How many marked statements enclose the current expression.
    allowed_depth: usize,
    /// How many step bodies enclose the current expression.
    step_body_depth: usize,
    /// The `if`/`match` arms enclosing the current expression.
    arms: Vec<(usize, usize)>,
    /// `if`s and `match`es met so far, to number them.
    constructs_opened: usize,
    nondeterministic: Vec<NondeterministicCall>,
    step_outputs: Vec<syn::Type>,
    untyped_oks: Vec<(Span, bool)>,
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

    /// Whether the call's arguments are step code: `ctx.run(name, body)`,
    /// `ctx.compute(name, body)`, or `.run(body)`, `.compute(body)`,
    /// `.run_with_attempt(body)` and `.compensate(undo)` of a `ctx.step(..)`
    /// chain.
    fn is_step_body_call(&self, call: &syn::ExprMethodCall) -> bool {
        self.is_ctx_body_call(call)
            || (symbols::STEP_BODY_METHODS
                .iter()
                .any(|method| call.method == *method)
                && self
                    .step_chain_root(&call.receiver)
                    .is_some_and(|root| root.method == symbols::STEP))
    }

    /// Whether the call is `ctx.run(name, body)` or `ctx.compute(name, body)`.
    fn is_ctx_body_call(&self, call: &syn::ExprMethodCall) -> bool {
        symbols::CTX_BODY_METHODS
            .iter()
            .any(|method| call.method == *method)
            && self.is_ctx(&call.receiver)
    }

    /// Visits the arguments of a step body call, recording the output types
    /// written there.
    fn visit_step_body_call(&mut self, call: &syn::ExprMethodCall) {
        if call.method != symbols::COMPENSATE {
            if self.is_ctx_body_call(call)
                && let Some(turbofish) = &call.turbofish
                && let Some(ty) = outputs::first_type_argument(turbofish)
            {
                self.step_outputs.push(ty.clone());
            }
            if let Some(body) = call.args.last() {
                outputs::body_output_types(body, &mut self.step_outputs);
            }
        }
        if call.method != symbols::COMPUTE
            && call.turbofish.is_none()
            && let Some(ok) = call.args.last().and_then(outputs::untyped_ok)
        {
            self.untyped_oks
                .push((ok, call.method != symbols::COMPENSATE));
        }
        self.visit_expr(&call.receiver);
        self.step_body_depth += 1;
        for arg in &call.args {
            self.visit_expr(arg);
        }
        self.step_body_depth -= 1;
    }

    /// Visits `visit` as arm `arm` of the `if`/`match` numbered `construct`.
    fn in_arm(&mut self, construct: usize, arm: usize, visit: impl FnOnce(&mut Self)) {
        self.arms.push((construct, arm));
        visit(self);
        self.arms.pop();
    }

    /// A number for the next `if` or `match`.
    fn open_construct(&mut self) -> usize {
        self.constructs_opened += 1;
        self.constructs_opened
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
                        self.durations.push((DurationUse::Sleep, duration.clone()));
                        options.push((symbols::DURATION.as_str(), duration.clone()));
                    }
                }
                StepKind::SetDeadline => {
                    if let Some(duration) = second.and_then(string_literal) {
                        self.durations
                            .push((DurationUse::Deadline, duration.clone()));
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
            let typed_event = typed::typed_event(call);
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
                arms: self.arms.clone(),
                typed_event,
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
        self.record_chain_option(call);
        if call.method == symbols::MAX_DELAY
            && is_retry_chain(&call.receiver)
            && let Some(literal) = call.args.first().and_then(string_literal)
        {
            self.durations
                .push((DurationUse::RetryDelay, literal.clone()));
        }
        if self.is_step_body_call(call) {
            self.visit_step_body_call(call);
        } else {
            syn::visit::visit_expr_method_call(self, call);
        }
    }

    fn visit_expr_path(&mut self, node: &'ast syn::ExprPath) {
        if self.step_body_depth == 0 && node.qself.is_none() {
            let segments: Vec<String> = node
                .path
                .segments
                .iter()
                .map(|segment| segment.ident.to_string())
                .collect();
            if let Some(class) = symbols::nondeterminism_of(&segments) {
                self.nondeterministic.push(NondeterministicCall {
                    class,
                    path: node.path.clone(),
                    allowed: self.allowed_depth > 0,
                });
            }
        }
        syn::visit::visit_expr_path(self, node);
    }

    fn visit_stmt(&mut self, stmt: &'ast syn::Stmt) {
        let allowed = self.allowed.contains(&(stmt as *const syn::Stmt));
        self.allowed_depth += usize::from(allowed);
        syn::visit::visit_stmt(self, stmt);
        self.allowed_depth -= usize::from(allowed);
    }

    fn visit_local(&mut self, local: &'ast syn::Local) {
        if let Some((Expr::MethodCall(call), ty)) = outputs::let_output(local)
            && call.method != symbols::COMPENSATE
            && self.is_step_body_call(call)
        {
            self.step_outputs.push(ty.clone());
        }
        syn::visit::visit_local(self, local);
    }

    fn visit_expr_if(&mut self, node: &'ast syn::ExprIf) {
        // The condition always runs; then one of the two branches.
        self.visit_expr(&node.cond);
        let construct = self.open_construct();
        self.in_arm(construct, 0, |this| this.visit_block(&node.then_branch));
        if let Some((_, otherwise)) = &node.else_branch {
            self.in_arm(construct, 1, |this| this.visit_expr(otherwise));
        }
    }

    fn visit_expr_match(&mut self, node: &'ast syn::ExprMatch) {
        // The scrutinee always runs, and a guard may run before a later arm
        // is taken: both are outside the arms.
        self.visit_expr(&node.expr);
        let construct = self.open_construct();
        for (index, arm) in node.arms.iter().enumerate() {
            if let Some((_, guard)) = &arm.guard {
                self.visit_expr(guard);
            }
            self.in_arm(construct, index, |this| this.visit_expr(&arm.body));
        }
    }

    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        if is_retry_constructor(call)
            && let Some(literal) = call.args.iter().nth(1).and_then(string_literal)
        {
            self.durations
                .push((DurationUse::RetryDelay, literal.clone()));
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
