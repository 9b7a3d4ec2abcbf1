//! Plain-text tables with columns padded to their widest cell, for the CLI's summaries.

/// The lines of a table: `header` then `rows`, cells padded and separated by two spaces.
pub fn table_lines<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> Vec<String> {
    let header = header.map(str::to_string);
    let widths: Vec<usize> = (0..N)
        .map(|c| {
            std::iter::once(&header)
                .chain(rows)
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    std::iter::once(&header)
        .chain(rows)
        .map(|row| {
            let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect()
}
