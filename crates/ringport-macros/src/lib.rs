//! `#[ringport::main]` and `#[ringport::test]`: an `async fn` run to the end on a ringport
//! runtime started for it, as tokio users write them. Use them through `ringport`, which
//! re-exports both.
//!
//! The expansion is small: the body becomes an `async move` block, pinned as a
//! `dyn Future<Output = R>` of the function's own return type `R` (so that `?` knows what to
//! convert into), and handed to a runtime built for the call:
//!
//! ```text
//! #[ringport::main(backend = "poll")]        fn main() -> io::Result<()> {
//! async fn main() -> io::Result<()> {   =>       let body = async move { ... };
//!     ...                                        let body: Pin<&mut dyn Future<Output = io::Result<()>>> = pin!(body);
//! }                                              ringport::__private::block_on(Backend::Poll, body)
//!                                            }
//! ```
//!
//! Written against `proc_macro` alone: the function is only split into its attributes,
//! signature, return type and body, a token walk shorter than what `syn` would cost every
//! build.
//!
//! ```
//! #[ringport::main]
//! async fn main() -> std::io::Result<()> {
//!     let n = ringport::spawn(async { 40 + 2 }).await?;
//!     assert_eq!(n, 42);
//!     Ok(())
//! }
//! ```
//!
//! A function that is not `async`, arguments, or an unknown option are compile errors:
//!
//! ```compile_fail
//! #[ringport::main]
//! fn main() {}
//! ```
//!
//! ```compile_fail
//! #[ringport::main(backend = "carrier-pigeon")]
//! async fn main() {}
//! ```
//!
//! ```compile_fail
//! #[ringport::main(threads = 4)]
//! async fn main() {}
//! ```
//!
//! ```compile_fail
//! #[ringport::main]
//! async fn main(arg: u32) {}
//! ```

use proc_macro::{Delimiter, Group, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

/// Runs an `async fn main` on a ringport runtime (on the current thread, until it returns).
///
/// `#[ringport::main(backend = "poll")]` (or `"uring"`, `"auto"`) picks the backend; the
/// default, `auto`, probes io_uring, falls back to poll, and honours `RINGPORT_BACKEND`.
/// The function may return anything, `Result`s included (`?` works in it).
///
/// ```
/// #[ringport::main(backend = "poll")]
/// async fn main() {
///     ringport::time::sleep(std::time::Duration::from_millis(1)).await;
///     assert_eq!(ringport::runtime::current_backend(), Some(ringport::Backend::Poll));
/// }
/// ```
///
/// # Panics
///
/// The generated function panics when no runtime can be started (the message says why).
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, false)
}

/// A test that is an `async fn`, run on a runtime of its own. Options as for
/// [`macro@main`]; other attributes (`#[should_panic]`, `#[ignore]`) are kept.
///
/// ```
/// #[ringport::test]
/// async fn reads_a_file() -> std::io::Result<()> {
///     let bytes = ringport::fs::read("/proc/self/stat").await?;
///     assert!(!bytes.is_empty());
///     Ok(())
/// }
/// # fn main() {}
/// ```
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, true)
}

fn expand(args: TokenStream, item: TokenStream, test: bool) -> TokenStream {
    let is_main = names_main(&item);
    let res = parse_args(args).and_then(|backend| {
        let f = parse_fn(item)?;
        Ok(generate(f, backend, test))
    });
    res.unwrap_or_else(|(span, msg)| {
        let mut out = compile_error(span, &msg);
        if is_main {
            // Stand in for the function, so that the error above is the only one.
            out.extend(code("fn main() {}"));
        }
        out
    })
}

/// Whether the item is `... fn main ...`.
fn names_main(item: &TokenStream) -> bool {
    let tokens: Vec<String> = item.clone().into_iter().map(|t| t.to_string()).collect();
    tokens.windows(2).any(|w| w[0] == "fn" && w[1] == "main")
}

type Error = (Span, String);

/// The backends `backend = "..."` may name, with the `ringport::Backend` variant of each.
const BACKENDS: [(&str, &str); 4] = [
    ("auto", "Auto"),
    ("uring", "Uring"),
    ("poll", "Poll"),
    ("iocp", "Iocp"),
];

/// `backend = "name"`, or nothing: the `Backend` variant to use.
fn parse_args(args: TokenStream) -> Result<&'static str, Error> {
    let tokens: Vec<TokenTree> = args.into_iter().collect();
    let (key, eq, value) = match tokens.as_slice() {
        [] => return Ok("Auto"),
        [TokenTree::Ident(key), TokenTree::Punct(eq), TokenTree::Literal(value)] => {
            (key, eq, value)
        }
        [first, ..] => return Err((first.span(), USAGE.into())),
    };
    if key.to_string() != "backend" || eq.as_char() != '=' {
        return Err((key.span(), USAGE.into()));
    }
    let text = value.to_string();
    let name = text.trim_matches('"');
    match BACKENDS
        .iter()
        .find(|(n, _)| *n == name && text.starts_with('"'))
    {
        Some((_, variant)) => Ok(variant),
        None => Err((
            value.span(),
            format!("unknown backend {text}: expected \"auto\", \"uring\", \"poll\" or \"iocp\""),
        )),
    }
}

const USAGE: &str = "the only option is `backend = \"auto\" | \"uring\" | \"poll\" | \"iocp\"`";

/// A function split into the parts the expansion keeps.
struct Function {
    /// Attributes and visibility, as written.
    head: Vec<TokenTree>,
    /// `fn`, the name, the (empty) parameter list, and `-> R` when written.
    signature: Vec<TokenTree>,
    /// The return type's tokens (empty for `()`).
    output: Vec<TokenTree>,
    body: Group,
}

fn parse_fn(item: TokenStream) -> Result<Function, Error> {
    let mut tokens: Vec<TokenTree> = item.into_iter().collect();
    let body = match tokens.pop() {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => g,
        other => {
            let span = other.map_or_else(Span::call_site, |t| t.span());
            return Err((span, "expected an `async fn` with a body".into()));
        }
    };
    let fn_at = tokens
        .iter()
        .position(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "fn"))
        .ok_or_else(|| (body.span(), "expected an `async fn`".to_string()))?;
    let mut head = tokens[..fn_at].to_vec();
    match head.last() {
        Some(TokenTree::Ident(i)) if i.to_string() == "async" => {
            head.pop();
        }
        _ => return Err((tokens[fn_at].span(), "the function must be `async`".into())),
    }
    if let Some(span) = test_attribute(&head) {
        return Err((span, "remove `#[test]`: `#[ringport::test]` adds it".into()));
    }
    let signature = tokens[fn_at..].to_vec();
    // fn NAME ( ) [-> R]
    match signature.get(2) {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => {
            if !g.stream().is_empty() {
                return Err((g.span(), "the function cannot take arguments".into()));
            }
        }
        Some(t) => return Err((t.span(), "the function cannot be generic".into())),
        None => return Err((body.span(), "expected the parameter list".into())),
    }
    let output = match &signature[3..] {
        [] => Vec::new(),
        [TokenTree::Punct(dash), TokenTree::Punct(gt), rest @ ..]
            if dash.as_char() == '-' && gt.as_char() == '>' && !rest.is_empty() =>
        {
            if let Some(w) = rest
                .iter()
                .find(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "where"))
            {
                return Err((w.span(), "the function cannot have a where clause".into()));
            }
            rest.to_vec()
        }
        [t, ..] => return Err((t.span(), "expected `-> Type` or the body".into())),
    };
    Ok(Function {
        head,
        signature,
        output,
        body,
    })
}

/// The span of a `#[test]` among the attributes, if there is one.
fn test_attribute(head: &[TokenTree]) -> Option<Span> {
    head.windows(2).find_map(|w| match w {
        [TokenTree::Punct(p), TokenTree::Group(g)]
            if p.as_char() == '#' && g.delimiter() == Delimiter::Bracket =>
        {
            let inner: Vec<String> = g.stream().into_iter().map(|t| t.to_string()).collect();
            (inner == ["test"]).then(|| g.span())
        }
        _ => None,
    })
}

fn generate(f: Function, backend: &str, test: bool) -> TokenStream {
    let mut out = TokenStream::new();
    if test {
        out.extend(code("#[::core::prelude::v1::test]"));
    }
    out.extend(f.head);
    out.extend(f.signature);
    let output = match f.output.is_empty() {
        true => code("()"),
        false => f.output.into_iter().collect(),
    };
    let mut inner = code("let body = async move");
    inner.extend([TokenTree::Group(f.body)]);
    inner.extend(code(
        "; let body: ::core::pin::Pin<&mut dyn ::core::future::Future<Output =",
    ));
    inner.extend(output);
    inner.extend(code(">> = ::core::pin::pin!(body);"));
    inner.extend(code(&format!(
        "::ringport::__private::block_on(::ringport::Backend::{backend}, body)"
    )));
    out.extend([TokenTree::Group(Group::new(Delimiter::Brace, inner))]);
    out
}

/// Fixed tokens of the expansion.
fn code(s: &str) -> TokenStream {
    s.parse().expect("the expansion's own tokens parse")
}

/// `::core::compile_error! { "msg" }` pointing at `span`.
fn compile_error(span: Span, msg: &str) -> TokenStream {
    let mut path = code("::core::compile_error");
    path.extend([TokenTree::Punct(Punct::new('!', Spacing::Alone))]);
    let mut lit = Literal::string(msg);
    lit.set_span(span);
    let mut group = Group::new(Delimiter::Brace, TokenTree::Literal(lit).into());
    group.set_span(span);
    path.extend([TokenTree::Group(group)]);
    let mut out = TokenStream::new();
    for mut t in path {
        t.set_span(span);
        out.extend([t]);
    }
    out
}
