//! Backends: everything that talks to a Proxmox node sits behind `Backend`.
