//! Generated workflows of any size, for benchmarks and stress tests.

use std::fmt::Write;

/// A valid workflow with `steps` steps (about 150 bytes each) mixing overrides, personas,
/// fan-out and template references, like a large real document.
pub fn large_workflow(steps: usize) -> String {
    let mut text = String::from(
        "version: 1\nname: Generated\ndescription: A large generated workflow\nprovider: anthropic\nmodel: claude-sonnet-4-5\npersona: analyst\ninputs:\n  topic:\n    default: skates\npersonas:\n  analyst:\n    name: Analyst\n    system: Be brief.\n  marketer:\n    name: Marketer\n    system: Be bold.\nsteps:\n",
    );
    for i in 0..steps {
        let _ = writeln!(text, "  - id: step_{i}");
        match i % 4 {
            0 => text.push_str("    provider: openai\n    model: gpt-4o\n    persona: marketer\n"),
            1 => text.push_str("    persona: null\n    params: { temperature: 0.5 }\n"),
            2 => text.push_str("    provider: google\n    fallback: [anthropic/claude-haiku-4-5, openai]\n"),
            _ => {}
        }
        if i > 0 {
            let _ = write!(
                text,
                "    prompt: |\n      Continue from {{{{ steps.step_{}.output }}}} about {{{{ inputs.topic }}}}.\n",
                i - 1
            );
        } else {
            text.push_str("    prompt: |\n      Start writing about {{ inputs.topic }} in five bullet points.\n");
        }
    }
    text
}

/// Documents built to be expensive to analyse, by name: nesting deeper than any stack,
/// a cycle through every step, thousands of unknown references. Tests assert the shape of
/// their results; the analysis benchmark measures their time and memory.
pub fn hostile_documents() -> Vec<(&'static str, String)> {
    let header = "version: 1\nname: Hostile\nprovider: anthropic\nsteps:\n";
    let nested = |n: usize| format!("steps:\n  - {}\n", "- ".repeat(n));
    let steps = |n: usize, step: &dyn Fn(usize) -> String| {
        let mut text = String::from(header);
        (0..n).for_each(|i| text.push_str(&step(i)));
        text
    };
    let mut refs = String::from(header);
    refs.push_str("  - id: a\n    prompt: |\n");
    (0..50_000).for_each(|i| {
        let _ = writeln!(refs, "      {{{{ steps.b{i}.output }}}}");
    });
    let mut personas = String::from("version: 1\nname: Hostile\nprovider: anthropic\npersonas:\n");
    (0..10_000).for_each(|i| {
        let _ = writeln!(personas, "  p{i}:\n    system: Be p{i}.");
    });
    personas.push_str("steps:\n");
    (0..10_000).for_each(|i| {
        let _ = writeln!(
            personas,
            "  - id: s{i}\n    persona: p{i}\n    prompt: Hi {{{{ inputs.i{i} }}}}"
        );
    });
    vec![
        ("nesting 21,500 deep", nested(21_500)),
        ("nesting 86,000 deep", nested(86_000)),
        ("nesting 1 MB deep", nested(500_000)),
        (
            "cycles: 20,000 steps each needing the next and the first",
            steps(20_000, &|i| {
                format!("  - id: s{i}\n    needs: [s{}, s0]\n    prompt: hi\n", (i + 1) % 20_000)
            }),
        ),
        (
            "did you mean: 20,000 steps each needing a misspelt step",
            steps(20_000, &|i| {
                format!("  - id: step_{i}\n    needs: [stpe_{i}]\n    prompt: hi\n")
            }),
        ),
        ("50,000 template references in one literal block", refs),
        ("10,000 inline personas used by 10,000 steps", personas),
        ("a valid 5 MB workflow (34,000 steps)", large_workflow(34_000)),
    ]
}
