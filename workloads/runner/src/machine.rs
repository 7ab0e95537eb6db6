//! Machine facts: what a run was measured on, read from `/proc` and the process's limits.
//!
//! Every run keeps its [`MachineFacts`] (CPU model, cores, memory, kernel, open-files limit,
//! `vm.max_map_count`, host name, the compiler and the project's revision) so that two runs can be compared
//! knowingly. `/proc/cpuinfo`, `/proc/meminfo` and `vm.max_map_count` are read by the `procfs`
//! crate (the kernel's release and host name, one line each, by hand: procfs has neither); a fact
//! that cannot be read is recorded as unknown (or zero), never fatal.

use procfs::{CpuInfo, Current, Meminfo};

use wb_model::results::MachineFacts;

/// Reads this machine's facts from `/proc` and the environment. `rustc` and
/// `git_revision` come from the binary, which knows how it was built.
pub fn collect(rustc: &str, git_revision: &str) -> MachineFacts {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    MachineFacts {
        cpu_model: CpuInfo::current()
            .ok()
            .as_ref()
            .and_then(cpu_model)
            .unwrap_or_else(|| "unknown".into()),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
        memory_bytes: Meminfo::current().map_or(0, |m| m.mem_total),
        kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
        open_files_limit: open_files_limits().map_or(0, |(_soft, hard)| hard),
        rustc: rustc.to_string(),
        git_revision: git_revision.to_string(),
        hostname: read("/proc/sys/kernel/hostname").trim().to_string(),
        max_map_count: procfs::sys::vm::max_map_count().unwrap_or(0),
        hosts: Vec::new(),
    }
}

/// The first CPU's model name (`model name` on x86; absent on some ARM kernels).
fn cpu_model(info: &CpuInfo) -> Option<String> {
    info.model_name(0)
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
}

pub use wb_sys::rlimit::open_files_limits;

#[cfg(test)]
mod tests {
    use procfs::FromRead;

    use super::*;

    #[test]
    fn the_cpu_model_comes_from_procfs() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Test CPU @ 2.00GHz\n\n\
                       processor\t: 1\nvendor_id\t: GenuineIntel\nmodel name\t: Test CPU @ 2.00GHz\n\n";
        let info = CpuInfo::from_read(cpuinfo.as_bytes()).unwrap();
        assert_eq!(cpu_model(&info).as_deref(), Some("Test CPU @ 2.00GHz"));
        let no_model =
            CpuInfo::from_read("processor\t: 0\nBogoMIPS\t: 50.00\n\n".as_bytes()).unwrap();
        assert_eq!(cpu_model(&no_model), None);
    }

    #[test]
    fn this_machine_has_facts() {
        let facts = collect("rustc", "rev");
        assert!(facts.cores >= 1);
        // `/proc/meminfo` parsed by procfs, in bytes: more than a KiB-for-byte mix-up could give.
        assert!(facts.memory_bytes > 64 * 1024 * 1024);
        assert!(open_files_limits().is_some());
    }
}
