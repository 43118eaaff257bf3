//! Case 5: the services' peak memory, from the figures cases 1, 4 and 6 gather.

use crate::report::{Section, Target, met, table_row};
use crate::stats::Spread;

/// The target: every peak RSS below this many MiB.
const TARGET_MIB: f64 = 64.0;

/// Peak RSS figures gathered by cases 1, 4 and 6 for case 5: (process, case, MiB per run
/// and instance).
#[derive(Debug, Default)]
pub(crate) struct Memory {
    pub(crate) rows: Vec<(String, String, Vec<f64>)>,
}

/// Case 5, from the figures cases 1, 4 and 6 gathered.
pub(crate) fn memory_section(memory: &Memory) -> Section {
    let mut body = format!(
        "Peak resident set size (`VmHWM` of `/proc/PID/status`, read just before the process \
         is stopped), MiB, median (min–max) over the runs.\n\n| process | case | peak RSS MiB | target < {TARGET_MIB} MiB |\n|---|---|---|---|\n",
    );
    let mut targets = Vec::new();
    for (process, case, values) in &memory.rows {
        let spread = Spread::of(values);
        let ok = spread.max < TARGET_MIB;
        body += &table_row(&[
            process.clone(),
            case.clone(),
            spread.show(1),
            met(ok).into(),
        ]);
        targets.push(Target {
            case: "5".into(),
            what: format!("{process} peak RSS, {case}"),
            target: format!("< {TARGET_MIB} MiB"),
            measured: format!("{} MiB", spread.show(1)),
            met: ok,
        });
    }
    Section {
        title: "5. Memory".into(),
        body,
        targets,
    }
}
