//! Compiling a rule's expression once per (re)load, and the three checks that stop the load:
//! it parses, it names only the five roots, it answers a bool.

use std::sync::{Arc, LazyLock};

use cel::common::ast::{EntryExpr, Expr, IdedExpr};
use cel::{Env, Program, Value};

use super::input::{ROOTS, Roots, RuleInput};

/// The standard library every rule is compiled and run with; built once per process.
pub(super) static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| Arc::new(Env::stdlib()));

/// A rule's expression, compiled and checked.
pub(super) struct Compiled {
    pub program: Program,
    /// The roots it names.
    pub roots: Roots,
}

/// Why an expression was refused: where (line and column, from 1, when known) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpressionError {
    pub position: Option<(usize, usize)>,
    pub reason: String,
}

impl std::fmt::Display for ExpressionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.position {
            Some((line, column)) => write!(f, "line {line}, column {column}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

/// Compiles `source`, then checks its variables and, on [`RuleInput::sample`], its type.
pub(super) fn compile(source: &str) -> Result<Compiled, ExpressionError> {
    let program = ENV.compile(source).map_err(|errors| {
        let first = errors.errors.first();
        ExpressionError {
            position: first.and_then(|e| {
                let line = usize::try_from(e.pos.0).ok()?;
                let column = usize::try_from(e.pos.1).ok()?;
                Some((line, column + 1))
            }),
            reason: first.map_or_else(|| "does not compile".to_owned(), |e| e.msg.clone()),
        }
    })?;
    let mut free = Vec::new();
    free_identifiers(program.expression(), &mut Vec::new(), &mut free);
    if let Some((name, id)) = free.iter().find(|(name, _)| !ROOTS.contains(name)) {
        return Err(ExpressionError {
            position: program
                .source_info()
                .offset_for(*id)
                .map(|(start, _)| line_and_column(source, start)),
            reason: format!(
                "unknown variable `{name}`; a rule may name: {}",
                ROOTS.join(", ")
            ),
        });
    }
    let roots = Roots::of(free.iter().map(|(name, _)| *name));
    match program.execute(&RuleInput::sample().context(&ENV)) {
        Ok(Value::Bool(_)) => Ok(Compiled { program, roots }),
        Ok(other) => Err(ExpressionError {
            position: None,
            reason: format!(
                "must return a bool; it returns {} (on a sample model)",
                other.type_of()
            ),
        }),
        Err(err) => Err(ExpressionError {
            position: None,
            reason: format!("fails on a sample model: {err}"),
        }),
    }
}

/// The identifiers `expr` names that no comprehension around them binds, with their node ids.
fn free_identifiers<'a>(
    expr: &'a IdedExpr,
    bound: &mut Vec<&'a str>,
    out: &mut Vec<(&'a str, u64)>,
) {
    match &expr.expr {
        Expr::Ident(name) => {
            if !name.starts_with('@') && !bound.contains(&name.as_str()) {
                out.push((name, expr.id));
            }
        }
        Expr::Select(select) => free_identifiers(&select.operand, bound, out),
        Expr::Call(call) => {
            if let Some(target) = &call.target {
                free_identifiers(target, bound, out);
            }
            for arg in &call.args {
                free_identifiers(arg, bound, out);
            }
        }
        Expr::List(list) => {
            for element in &list.elements {
                free_identifiers(element, bound, out);
            }
        }
        Expr::Map(map) => entries(map.entries.iter().map(|e| &e.expr), bound, out),
        Expr::Struct(st) => entries(st.entries.iter().map(|e| &e.expr), bound, out),
        Expr::Comprehension(comp) => {
            free_identifiers(&comp.iter_range, bound, out);
            free_identifiers(&comp.accu_init, bound, out);
            let before = bound.len();
            bound.push(&comp.iter_var);
            bound.extend(comp.iter_var2.as_deref());
            bound.push(&comp.accu_var);
            for part in [&comp.loop_cond, &comp.loop_step, &comp.result] {
                free_identifiers(part, bound, out);
            }
            bound.truncate(before);
        }
        Expr::Literal(_) | Expr::Unspecified => {}
    }
}

fn entries<'a>(
    entries: impl Iterator<Item = &'a EntryExpr>,
    bound: &mut Vec<&'a str>,
    out: &mut Vec<(&'a str, u64)>,
) {
    for entry in entries {
        match entry {
            EntryExpr::StructField(field) => free_identifiers(&field.value, bound, out),
            EntryExpr::MapEntry(pair) => {
                free_identifiers(&pair.key, bound, out);
                free_identifiers(&pair.value, bound, out);
            }
        }
    }
}

/// Line and column (from 1) of the character at `offset`.
fn line_and_column(source: &str, offset: u32) -> (usize, usize) {
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    let mut line = 1;
    let mut column = 1;
    for c in source.chars().take(offset) {
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}
