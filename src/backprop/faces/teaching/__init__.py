"""Teaching demonstrations built on the trace: the notes' warnings shown with numbers."""
