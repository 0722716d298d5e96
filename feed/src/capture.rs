//! Raw capture readers (in progress).
