//! Rendering prompts and evaluating `for_each` expressions with the environment of
//! `model::template_env` (strict undefined, a `lines` filter to fan out over an output's lines).

use std::collections::BTreeMap;

use minijinja::{Environment, Template, Value, context};

/// A MiniJinja environment set up for stepwise templates.
pub struct Renderer {
    env: Environment<'static>,
}

impl Default for Renderer {
    fn default() -> Renderer {
        Renderer::new()
    }
}

impl Renderer {
    /// The shared stepwise environment (strict undefined, the `lines` filter).
    pub fn new() -> Renderer {
        Renderer {
            env: crate::model::template_env::environment(),
        }
    }

    /// Evaluates a `for_each` expression into its items.
    pub fn items(&self, expression: &str, ctx: &Value) -> Result<Vec<Value>, String> {
        let expr = self
            .env
            .compile_expression(expression)
            .map_err(|e| format!("for_each: {e}"))?;
        let value = expr.eval(ctx).map_err(|e| format!("for_each: {e}"))?;
        if value.as_str().is_some() {
            return Err(format!(
                "for_each must give a list, found a string (try `{expression} | lines`)"
            ));
        }
        let iter = value
            .try_iter()
            .map_err(|_| format!("for_each must give a list, found {}", value.kind()))?;
        Ok(iter.collect())
    }

    /// Compiles a prompt once, to render it for every fan-out item.
    pub fn compile<'s>(&'s self, source: &'s str) -> Result<Template<'s, 's>, String> {
        self.env.template_from_str(source).map_err(|e| format!("prompt: {e}"))
    }

    /// Renders a prompt.
    pub fn prompt(&self, source: &str, ctx: &Value) -> Result<String, String> {
        render(&self.compile(source)?, ctx)
    }
}

/// Renders a compiled prompt.
pub fn render(template: &Template<'_, '_>, ctx: &Value) -> Result<String, String> {
    template.render(ctx).map_err(|e| format!("prompt: {e}"))
}

/// The output of a finished step, as templates see it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutput {
    /// `steps.ID.output`.
    pub output: String,
    /// `steps.ID.outputs` (a one-item list for a step without fan-out).
    pub outputs: Vec<String>,
}

/// The template context: `inputs` and `steps`.
pub fn context(inputs: &BTreeMap<String, String>, steps: &BTreeMap<String, StepOutput>) -> Value {
    let steps: BTreeMap<&str, Value> = steps
        .iter()
        .map(|(id, o)| {
            (
                id.as_str(),
                context! { output => o.output.clone(), outputs => o.outputs.clone() },
            )
        })
        .collect();
    context! { inputs, steps }
}

/// `base` with a fan-out's `item` and `index` added.
pub fn with_item(base: &Value, item: &Value, index: usize) -> Value {
    context! { item, index, ..base.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps() -> BTreeMap<String, StepOutput> {
        BTreeMap::from([(
            "a".to_string(),
            StepOutput {
                output: "one\n\n  two \n".to_string(),
                outputs: vec!["one\n\n  two \n".to_string()],
            },
        )])
    }

    #[test]
    fn for_each_lines_filter_gives_non_blank_lines() {
        let r = Renderer::new();
        let ctx = context(&BTreeMap::new(), &steps());
        let items = r.items("steps.a.output | lines", &ctx).unwrap();
        assert_eq!(items, vec![Value::from("one"), Value::from("two")]);
    }

    #[test]
    fn undefined_references_fail_instead_of_rendering_empty() {
        let r = Renderer::new();
        let ctx = context(&BTreeMap::new(), &steps());
        assert!(r.prompt("{{ steps.b.output }}", &ctx).is_err());
        assert!(r.prompt("{{ inputs.missing }}", &ctx).is_err());
        let inputs = BTreeMap::from([("p".to_string(), "skates".to_string())]);
        let ctx = with_item(&context(&inputs, &steps()), &Value::from("x"), 3);
        assert_eq!(
            r.prompt("{{ inputs.p }} {{ item }} {{ index }}", &ctx).unwrap(),
            "skates x 3"
        );
    }
}
