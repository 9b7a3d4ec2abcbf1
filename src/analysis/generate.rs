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
