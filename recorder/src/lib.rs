//! Reserved for the recorder stage of orderflow (DESIGN.md section 2); it holds no code yet.
