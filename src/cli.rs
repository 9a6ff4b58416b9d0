//! runc's command line (docs/callers.md). Every shape CRI-O, conmon and podman
//! produce must parse: `--flag value` and `--flag=value`, signals as numbers or names.

use std::path::PathBuf;

pub use crate::logging::LogFormat;
use clap::{Args, Parser, Subcommand, ValueEnum};

pub const DEFAULT_ROOT: &str = "/run/proxmox-lxcri";

#[derive(Debug, Parser)]
#[command(
    name = "proxmox-lxcri",
    disable_version_flag = true,
    about = "OCI runtime that runs bundles as Proxmox VE CTs"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args)]
pub struct GlobalOpts {
    /// Directory for per-container state
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Configuration file (default /etc/proxmox-lxcri/config.toml or $PROXMOX_LXCRI_CONFIG)
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Log file; nothing is ever logged to the container's stdio
    #[arg(long, global = true, value_name = "PATH")]
    pub log: Option<PathBuf>,
    #[arg(long = "log-format", global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log at debug level
    #[arg(long, global = true)]
    pub debug: bool,
    /// Accepted for compatibility: a cgroupsPath of the form slice:prefix:name is read as systemd's either way
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for compatibility and ignored
    #[arg(long, global = true, hide = true, value_name = "PATH")]
    pub criu: Option<String>,
    /// Accepted for compatibility and ignored
    #[arg(long, global = true, hide = true, value_name = "true|false|auto")]
    pub rootless: Option<String>,
    /// Print the version
    #[arg(short = 'v', long)]
    pub version: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a container from a bundle; its process waits for `start`
    ///
    /// Annotations of config.json under org.proxmox.lxcri/ steer the CT: `ha` (HA group,
    /// docs/cluster.md) and `net0` .. `net9`, each a Proxmox netN property string such as
    /// `bridge=vmbr1,tag=20,ip=10.0.0.2/24,gw=10.0.0.1` for a CT on a remote node, in place of the
    /// [network] table (docs/network.md); `firewall` (the CT's Proxmox firewall options, such as
    /// `policy_in=DROP`), `firewall-rules` (`;`-separated rules as in a .fw file, such as
    /// `IN DROP -p tcp -dport 22`) and `firewall-group` (cluster security groups) for the CT's
    /// Proxmox firewall on a remote node (docs/network.md, "Firewall"). A bad value is refused
    /// before anything is made.
    Create(CreateArgs),
    /// Run the process of a created container
    Start(IdArg),
    /// Print the state of a container as JSON
    State(IdArg),
    /// Send a signal to the container's process
    Kill(KillArgs),
    /// Print the container's resource use and OOM kills as JSON lines, until it stops
    ///
    /// Lines of type `stats` (cpu, memory, pids, blkio, network_interfaces in runc's field names)
    /// and `oom`. A CT on another node reports only what Proxmox's status/current has (memory,
    /// swap, network and disk bytes) and no OOM events (docs/callers.md, "events").
    Events(EventsArgs),
    /// Destroy a container and its CT
    Delete(DeleteArgs),
    /// List containers
    List(ListArgs),
    /// Print every container's and node's metrics once, in Prometheus's text format
    ///
    /// Per container (labels id, vmid, node, backend): its state, memory, swap, network and
    /// block I/O bytes, restarts on another node; for a CT on this node also CPU seconds, pids,
    /// packets and OOM kills. Per node of an api or ssh backend: online, CPU use, memory,
    /// storages; the cluster's quorum. The runtime's own operations under this --root: counts,
    /// latency histograms and failures by reason per subcommand and per pct, API and SSH call
    /// (docs/monitoring.md). A container whose numbers cannot be read gets
    /// proxmox_lxcri_container_scrape_error 1 and a line on stderr; the exit status is 1 only
    /// when nothing could be read. With --listen, serve the same text at GET /metrics instead,
    /// read afresh for each request, until SIGTERM or SIGINT.
    Metrics(MetricsArgs),
    /// Print the runtime's features as JSON
    Features,
    /// Run a new process inside a container
    Exec(ExecArgs),
    /// Update resource limits of a container
    Update(UpdateArgs),
    /// Freeze all processes of a container
    Pause(IdArg),
    /// Thaw a paused container
    Resume(IdArg),
    /// List, prune or import the rootfs templates uploaded for CTs on a remote node
    Images(ImagesArgs),
    /// Check what the configured backend needs on its node(s); exit 0 only when nothing blocks
    ///
    /// One line per check: `✓` passed, `i` information, `✗` failed with the fix (which file to
    /// write, which privilege to grant on which path, which package to install). Checks: the
    /// node (pct and pmxcfs for the pct backend; HTTPS for api; SSH for ssh and for api's pct
    /// exec), the TLS pin or CA and the SSH host key, the API token and its privileges (GET
    /// /access/permissions) against what the runtime does with the configured node, storages,
    /// bridge and VMID range, the template and CT volume storages and their content types
    /// (vztmpl, rootdir), quorum, subuid/subgid for unprivileged CTs, the static init binary,
    /// the state root, AppArmor and lxcfs's post-stop delay. Nothing is created on the node.
    ///
    /// Exit status 0 when no check failed, 1 otherwise.
    Doctor(DoctorArgs),
    /// Destroy this host's CTs whose container has no state, and remove state whose CT is gone
    ///
    /// What a killed create, or a delete while the CT's node was down, leaves behind. Only CTs
    /// tagged proxmox-lxcri whose description names this host (proxmox-lxcri host:, from
    /// host_id or /etc/machine-id) and this --root (proxmox-lxcri root:) are considered; a
    /// container being created (its lock held) or whose shim lives is never touched, nor a CT
    /// whose destroy a delete left to a process that still runs. State of a stopped container
    /// whose CT exists stays for its caller's delete.
    ///
    /// One line per action on stdout: `destroyed CT <vmid> (container <id>)`, `removed state
    /// <id>` (`would destroy ...`, `would remove state ...` with --dry-run). Each failure is one
    /// line on stderr; the exit status is 1 if any action failed, else 0.
    Gc(GcArgs),
    /// Move a container's CT to another node of the cluster (ssh and api backends)
    ///
    /// Proxmox's own migration (POST /nodes/{node}/lxc/{vmid}/migrate, or pct migrate on the
    /// CT's node). A created container moves with its CT (restarted there with the idle init);
    /// a stopped one moves offline. A running container moves by a restart migration: the CT
    /// is shut down, moved and started on NODE, and the shim starts the workload again there
    /// (the workload restarts, as under a restart policy; the caller's pid stays the shim's).
    /// Refused, with the reason, while the process has a terminal or exec sessions run in the
    /// container, and by the pct backend. The state records the new node: state, exec, kill,
    /// delete and start go there. Prints `moved <id> (CT <vmid>) from <a> to <b>`.
    Migrate(MigrateArgs),
    /// Move every container this --root manages off NODE (before maintenance)
    ///
    /// Each container whose state names NODE is migrated (as `migrate` does) to the
    /// least-loaded other online node, the choice of node = "auto", counting each container
    /// already sent there. At most --parallel migrations run at once. One line on stdout per
    /// container moved, one on stderr per container that could not be moved; the exit status
    /// is 1 if any could not.
    Evacuate(EvacuateArgs),
    /// Even out the nodes' load by migrating containers of this --root
    ///
    /// A node's load is the memory limit of its running guests (CTs and VMs, anyone's) over
    /// its memory, from /cluster/resources and /nodes. While the spread between the most and
    /// the least loaded online node exceeds --threshold, the container of this --root on the
    /// most loaded node whose move leaves the smallest spread goes to the least loaded one
    /// (running or created containers that `migrate` can move; at most --max-moves). With
    /// --dry-run the plan is printed (`would move <id> (CT <vmid>) from <a> to <b>`) and
    /// nothing changes.
    Rebalance(RebalanceArgs),
    /// Back a container's CT up with Proxmox's vzdump; prints the archive's volume ID
    ///
    /// The CT (its rootfs and mount points with backup=1) goes into a zstd-compressed
    /// vzdump archive on --storage (default: the configured `storage`). Modes as Proxmox's:
    /// snapshot (falls back to suspend where the storage cannot snapshot), suspend (the CT
    /// is frozen for the final copy), stop (the CT is shut down and started again; the
    /// workload restarts). ssh and api backends; refused by the pct backend.
    Backup(BackupArgs),
    /// List (or prune) the CT backups of this runtime's VMID range on a storage
    ///
    /// Lists VOLID, VMID and SIZE of every vzdump archive of a CT whose VMID is in the
    /// configured vmid_range on --storage (default: the configured `storage`) of the
    /// configured node. With --prune --keep-last N all but each CT's N newest archives are
    /// removed (as Proxmox's keep-last counts), one `removed <volid>` line each.
    Backups(BackupsArgs),
    /// Create a container whose CT is restored from a backup archive
    ///
    /// Like `create`, but the CT's volumes and data come from ARCHIVE (a volume ID that
    /// `backup` printed) instead of the bundle's rootfs: Proxmox's restore allocates them anew
    /// on the configured rootfs_storage with the archive's sizes. The bundle's config.json
    /// still gives the process, mounts and limits, and its CT keys win over the archive's
    /// config; keys it does not set keep the archive's values. An archive that is not a CT
    /// backup on the node is refused before anything is made. ssh and api backends.
    Restore(RestoreArgs),
    /// Print the shell completion script for SHELL
    ///
    /// Hidden: the Debian package ships its output for bash, zsh and fish (docs/packaging.md).
    #[command(hide = true)]
    Completion(CompletionArgs),
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Container ID
    pub id: String,
    /// Storage for the archive (default: the configured `storage`)
    #[arg(long, value_name = "STORAGE")]
    pub storage: Option<String>,
    /// vzdump's backup mode
    #[arg(long, default_value = "snapshot", value_parser = ["snapshot", "suspend", "stop"])]
    pub mode: String,
}

#[derive(Debug, Args)]
pub struct BackupsArgs {
    /// Storage to look at (default: the configured `storage`)
    #[arg(long, value_name = "STORAGE")]
    pub storage: Option<String>,
    /// Remove backups instead of listing them (with --keep-last)
    #[arg(long)]
    pub prune: bool,
    /// Backups to keep per CT when pruning, newest first
    #[arg(long = "keep-last", value_name = "N")]
    pub keep_last: Option<usize>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Backup archive: a volume ID such as local:backup/vzdump-lxc-100001-....tar.zst
    pub archive: String,
    /// Bundle directory (holds config.json)
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// File to write the container's process id to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (process.terminal)
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Container ID
    pub id: String,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Container ID
    pub id: String,
    /// Target node
    pub node: String,
    /// Seconds the CT's shutdown may take in a restart migration
    #[arg(long, default_value_t = 180, value_name = "SECONDS")]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct EvacuateArgs {
    /// The node to empty
    pub node: String,
    /// Migrations run at once
    #[arg(long, default_value_t = 2, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub parallel: u32,
    /// Seconds each CT's shutdown may take in a restart migration
    #[arg(long, default_value_t = 180, value_name = "SECONDS")]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct RebalanceArgs {
    /// Print the planned moves and change nothing
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Largest spread of load (0 to any, 1.0 = a node's whole memory) left alone
    #[arg(long, default_value_t = 0.25, value_name = "LOAD")]
    pub threshold: f64,
    /// Most containers moved in one run
    #[arg(long = "max-moves", default_value_t = 10, value_name = "N")]
    pub max_moves: usize,
    /// Seconds each CT's shutdown may take in a restart migration
    #[arg(long, default_value_t = 180, value_name = "SECONDS")]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Print what would be done and change nothing
    #[arg(long = "dry-run")]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the checks as a JSON array of {check, ok, detail, fix}
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(disable_help_subcommand = true)]
pub struct ImagesArgs {
    /// Remove every template no container under --root uses
    #[arg(long)]
    pub prune: bool,
    #[command(subcommand)]
    pub action: Option<ImagesAction>,
}

#[derive(Debug, Subcommand)]
pub enum ImagesAction {
    /// Upload a rootfs or an image as a template ahead of time, so a later create uploads nothing
    ///
    /// Packs ROOTFS with the init exactly as create does and uploads it unless the storage has
    /// it; prints the template's volid. create of a bundle with this rootfs directory finds it
    /// by the key over the files' metadata (and the archive's SHA-256 names it). An OCI image
    /// layout (or oci-archive) is unpacked first, every blob checked against its digest; create
    /// of a bundle whose config.json names that image ID (CRI-O's io.kubernetes.cri-o.ImageRef,
    /// or org.proxmox.lxcri/image) finds its template.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// An unpacked rootfs directory (as in a bundle), an OCI image layout directory or an
    /// oci-archive file
    pub rootfs: PathBuf,
    /// In an image layout with several images, the one whose org.opencontainers.image.ref.name
    /// this is
    #[arg(long = "ref", value_name = "NAME")]
    pub ref_name: Option<String>,
    /// The storage (with content type vztmpl) to upload to; create must use the same one
    #[arg(long)]
    pub storage: String,
    /// The node whose storage gets it (default: the configured node)
    #[arg(long)]
    pub node: Option<String>,
}

#[derive(Debug, Args)]
pub struct IdArg {
    pub id: String,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Bundle directory (holds config.json)
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// File to write the container's process id to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (process.terminal)
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Accepted for compatibility: the CT's rootfs is set up by LXC
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Accepted for compatibility
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass this many extra file descriptors (3, 4, ...) to the process
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal every process of the container, not only its main process
    #[arg(short = 'a', long)]
    pub all: bool,
    pub id: String,
    /// Signal number or name (KILL, SIGKILL, 9); default TERM
    #[arg(default_value = "TERM")]
    pub signal: String,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Print one stats line and exit
    #[arg(long)]
    pub stats: bool,
    /// Time between stats lines, as a Go duration (5s, 500ms, 1m)
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    pub interval: String,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Kill the container first if it still runs; an unknown ID is not an error
    #[arg(short = 'f', long)]
    pub force: bool,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Serve GET /metrics over HTTP on ADDR (IP:port; 127.0.0.1:9464 when given no value)
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:9464")]
    pub listen: Option<std::net::SocketAddr>,
    /// Let --listen take an address that is not loopback (metrics carry no authentication)
    #[arg(long, requires = "listen")]
    pub allow_remote: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(short = 'f', long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    /// Print only the IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// List this runtime's CTs on every node of the cluster (by tag), not local containers
    #[arg(long)]
    pub cluster: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    #[arg(short = 'd', long)]
    pub detach: bool,
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Accepted for conmon < 2.1.11; process.terminal decides
    #[arg(short = 't', long)]
    pub tty: bool,
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    #[arg(long)]
    pub cwd: Option<String>,
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    #[arg(short = 'c', long = "cap")]
    pub cap: Vec<String>,
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    #[arg(long)]
    pub apparmor: Option<String>,
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    #[arg(long)]
    pub cgroup: Option<String>,
    pub id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// LinuxResources JSON file, or - for stdin
    #[arg(short = 'r', long)]
    pub resources: Option<String>,
    #[arg(long)]
    pub memory: Option<String>,
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<String>,
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<String>,
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<String>,
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<String>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    #[arg(long = "pids-limit")]
    pub pids_limit: Option<String>,
    pub id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &str) -> Cli {
        let args = std::iter::once("proxmox-lxcri").chain(argv.split_whitespace());
        Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{argv}: {e}"))
    }

    #[test]
    fn conmon_create_with_single_token_root() {
        let cli = parse("--root=/run/x create --bundle /b --pid-file /b/pidfile abc");
        assert_eq!(
            cli.global.root.as_deref(),
            Some(std::path::Path::new("/run/x"))
        );
        match cli.command {
            Some(Command::Create(c)) => {
                assert_eq!(c.bundle, PathBuf::from("/b"));
                assert_eq!(c.pid_file, Some(PathBuf::from("/b/pidfile")));
                assert_eq!(c.id, "abc");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_create_shape_parses() {
        for argv in [
            "--systemd-cgroup --root=/r create --bundle /b --pid-file /p --no-pivot id",
            "create --bundle /b --pid-file /p --console-socket /tmp/conmon-term.X id",
            "create --bundle /b --pid-file /p --preserve-fds 2 id",
            "create -b /b --pid-file=/p --no-new-keyring --preserve-fds=1 id",
            "--log-format=json --log /r/oci-log create --bundle /b --pid-file /p id",
            "--log-format json --log=/r/oci-log --debug create -b /b id",
        ] {
            assert!(
                matches!(parse(argv).command, Some(Command::Create(_))),
                "{argv}"
            );
        }
    }

    #[test]
    fn direct_calls_with_two_token_root() {
        for argv in [
            "--root /r start id",
            "--root /r state id",
            "--root /r --systemd-cgroup delete --force id",
            "--root /r delete -f id",
            "delete id",
            "--root /r pause id",
            "--root /r resume id",
            "features",
            "list",
            "--root /r update --resources - id",
            "update --resources=/tmp/podman123 id",
            "update -r /tmp/x id",
        ] {
            assert!(parse(argv).command.is_some(), "{argv}");
        }
    }

    #[test]
    fn kill_shapes() {
        let cases = [
            ("--root /r kill id 15", false, "15"),
            ("--root /r kill id KILL", false, "KILL"),
            ("kill id SIGKILL", false, "SIGKILL"),
            ("kill --all id 9", true, "9"),
            ("kill -a id 9", true, "9"),
            ("kill id", false, "TERM"),
        ];
        for (argv, all, sig) in cases {
            match parse(argv).command {
                Some(Command::Kill(k)) => {
                    assert_eq!(
                        (k.all, k.signal.as_str(), k.id.as_str()),
                        (all, sig, "id"),
                        "{argv}"
                    )
                }
                other => panic!("{argv}: {other:?}"),
            }
        }
    }

    #[test]
    fn exec_shapes() {
        let argv = "--root=/r exec --pid-file /tmp/pidfile1 --process /tmp/exec-process-1 --detach --tty --console-socket /tmp/conmon-term.Q id";
        match parse(argv).command {
            Some(Command::Exec(e)) => {
                assert!(e.detach && e.tty);
                assert_eq!(e.process, Some(PathBuf::from("/tmp/exec-process-1")));
                assert_eq!(e.id, "id");
            }
            other => panic!("{other:?}"),
        }
        match parse("exec --cwd /tmp -e A=1 -u 1000:1000 id sh -c true").command {
            Some(Command::Exec(e)) => assert_eq!(e.command, ["sh", "-c", "true"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn version_flag_and_unknown_command() {
        assert!(parse("--version").global.version);
        assert!(parse("-v").global.version);
        assert!(Cli::try_parse_from(["proxmox-lxcri", "checkpoint", "--help"]).is_err());
        assert!(Cli::try_parse_from(["proxmox-lxcri", "--log-format", "xml", "list"]).is_err());
    }
}
