//! The printed result: one row per figure, with its target and whether it was met.

/// Rows of text cells, printed with aligned columns.
#[derive(Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

const HEADER: [&str; 6] = ["figure", "server", "wsbench", "reference", "target", "met"];

impl Table {
    pub fn row(&mut self, cells: [String; 6]) {
        self.rows.push(cells.to_vec());
    }

    pub fn print(&self) {
        let header: Vec<String> = HEADER.iter().map(|s| s.to_string()).collect();
        let all: Vec<&Vec<String>> = std::iter::once(&header).chain(self.rows.iter()).collect();
        let widths: Vec<usize> = (0..HEADER.len())
            .map(|c| all.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        for (i, row) in all.iter().enumerate() {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            println!("{}", line.join("  ").trim_end());
            if i == 0 {
                println!(
                    "{}",
                    widths
                        .iter()
                        .map(|w| "-".repeat(*w))
                        .collect::<Vec<_>>()
                        .join("  ")
                );
            }
        }
    }
}

/// "yes", "NO", or "n/a" when the figure could not be measured.
pub fn met(ok: Option<bool>) -> String {
    match ok {
        Some(true) => "yes".into(),
        Some(false) => "NO".into(),
        None => "n/a".into(),
    }
}
