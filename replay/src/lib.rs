//! Reserved for the replay stage of orderflow (DESIGN.md section 2); it holds no code yet.
