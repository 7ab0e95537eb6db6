//! Who owns a run: a process, named so that a reused pid is not mistaken for it.

use procfs::process::{Process, Stat};

/// `/proc/<pid>/stat`, if there is such a process.
fn stat(pid: u32) -> Option<Stat> {
    Process::new(i32::try_from(pid).ok()?).ok()?.stat().ok()
}

/// The process's start time, clock ticks after boot: field 22 of `/proc/<pid>/stat`.
pub fn start_ticks(pid: u32) -> Option<u64> {
    Some(stat(pid)?.starttime)
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`): start times count from boot, so
/// they only identify a process together with the boot.
pub fn boot_id() -> Option<String> {
    procfs::sys::kernel::random::boot_id().ok()
}

/// Whether `pid` is a zombie: it has exited and waits for its parent to collect its
/// status (field 3 of `/proc/<pid>/stat` is `Z`). A runner killed by SIGKILL is one until
/// its shell or test reaps it; it will never write again.
pub fn is_zombie(pid: u32) -> bool {
    stat(pid).is_some_and(|stat| stat.state == 'Z')
}

/// Whether the process recorded as `pid`, started at `start_ticks` during boot `boot_id`,
/// still runs. What was not recorded is not compared.
///
/// This is what makes marking runs interrupted on open correct: a run is written only by
/// the process that began it (its pid, start time and boot recorded in the row), so a
/// `running` row whose owner no longer runs (gone, a zombie, or from an earlier boot)
/// can never be finished, while a live owner's run is left alone, however long it takes.
/// The start time guards against a reused pid.
pub fn is_alive(pid: u32, start_ticks: Option<u64>, boot: Option<&str>) -> bool {
    if let (Some(recorded), Some(current)) = (boot, boot_id())
        && recorded != current
    {
        return false; // rebooted since: every process of that boot is gone
    }
    if is_zombie(pid) {
        return false;
    }
    match (start_ticks, self::start_ticks(pid)) {
        (_, None) => false, // no such process
        (Some(recorded), Some(current)) => recorded == current,
        (None, Some(_)) => true, // the pid exists; nothing more to compare
    }
}
