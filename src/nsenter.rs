//! nsenter
