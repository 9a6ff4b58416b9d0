//! A node in memory, for unit tests of the commands' own logic (error paths, cleanup order,
//! VMID retries) without LXC. It keeps CT configs, records every call, and fails the step it is
//! told to fail. The end-to-end tests run on real LXC (pve-sim, Proxmox's `pct`).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;

use super::{Backend, BackendError, CtStatus};
use crate::pve::version::PkgVersion;
use crate::pve::{CtConfig, Vmid};
use crate::vztmpl::Origin;

/// What the node holds and did; shared between the test and the backends it hands out.
#[derive(Default)]
pub struct Node {
    pub cts: BTreeMap<u32, CtConfig>,
    pub calls: Vec<String>,
    /// The call that fails (`create`, `start`, `status`, `template`, `check_storages`, ...).
    pub fail: Option<&'static str>,
    /// VMIDs someone else holds: `create` reports them taken.
    pub taken: Vec<u32>,
    /// `status` reports the CT stopped.
    pub stops_at_once: bool,
    /// What `quorum` answers (`None`: the backend does not ask).
    pub quorum: Option<super::quorum::Quorum>,
}

#[derive(Clone, Default)]
pub struct Memory(pub Rc<RefCell<Node>>);

impl Memory {
    fn call(&self, name: &'static str) -> Result<(), BackendError> {
        let mut n = self.0.borrow_mut();
        n.calls.push(name.to_string());
        if n.fail == Some(name) {
            return Err(BackendError::Command {
                cmd: format!("pct {name}"),
                msg: "failed on purpose".into(),
            });
        }
        Ok(())
    }
}

impl Backend for Memory {
    fn node_version(&self) -> Result<super::nodever::Detected, BackendError> {
        self.call("node_version")?;
        Ok(super::nodever::Detected {
            version: PkgVersion::parse("6.1.10").expect("a version"),
            source: "memory".into(),
        })
    }

    fn check_storages(&self, _extra: &[super::storages::Need]) -> Result<(), BackendError> {
        self.call("check_storages")
    }

    fn quorum(&self) -> Result<Option<super::quorum::Quorum>, BackendError> {
        self.call("quorum")?;
        Ok(self.0.borrow().quorum.clone())
    }

    fn template(&self, _: &Path, _: &Path, _: Origin) -> Result<String, BackendError> {
        self.call("template")?;
        Ok("local:vztmpl/empty.tar".into())
    }

    fn create(&self, vmid: Vmid, _template: &str, ct: &CtConfig) -> Result<(), BackendError> {
        self.call("create")?;
        let mut n = self.0.borrow_mut();
        if n.taken.contains(&vmid.get()) || n.cts.contains_key(&vmid.get()) {
            return Err(BackendError::VmidTaken(vmid));
        }
        n.cts.insert(vmid.get(), ct.clone());
        Ok(())
    }

    fn start(&self, _vmid: Vmid) -> Result<(), BackendError> {
        self.call("start")
    }

    fn status(&self, _vmid: Vmid) -> Result<CtStatus, BackendError> {
        self.call("status")?;
        if self.0.borrow().stops_at_once {
            return Ok(CtStatus::Stopped);
        }
        Ok(CtStatus::Running {
            init_pid: std::process::id() as i32,
        })
    }

    fn stop(&self, _vmid: Vmid) -> Result<(), BackendError> {
        self.call("stop")
    }

    fn destroy(&self, vmid: Vmid) -> Result<(), BackendError> {
        self.call("destroy")?;
        self.0.borrow_mut().cts.remove(&vmid.get());
        Ok(())
    }

    fn is_ours(&self, vmid: Vmid, id: &str) -> Result<bool, BackendError> {
        self.call("is_ours")?;
        Ok(self
            .0
            .borrow()
            .cts
            .get(&vmid.get())
            .is_some_and(|ct| crate::mapping::description_names(&ct.description, id)))
    }

    fn update(
        &self,
        _vmid: Vmid,
        _init_pid: i32,
        _ct: &CtConfig,
        _unset: &[String],
    ) -> Result<Vec<String>, BackendError> {
        self.call("update").map(|_| Vec::new())
    }

    fn tagged_cts(&self) -> Result<Vec<super::TaggedCt>, BackendError> {
        self.call("tagged_cts")?;
        Ok(self
            .0
            .borrow()
            .cts
            .iter()
            .filter(|(_, ct)| {
                ct.options
                    .get("tags")
                    .is_some_and(|t| crate::mapping::tagged(t))
            })
            .map(|(v, ct)| super::TaggedCt {
                vmid: Vmid::new(*v).expect("a valid VMID"),
                node: "memory".into(),
                description: ct.description.clone(),
            })
            .collect())
    }

    fn freeze(&self, _vmid: Vmid, _init_pid: i32) -> Result<(), BackendError> {
        self.call("freeze")
    }

    fn thaw(&self, _vmid: Vmid, _init_pid: i32) -> Result<(), BackendError> {
        self.call("thaw")
    }
}
