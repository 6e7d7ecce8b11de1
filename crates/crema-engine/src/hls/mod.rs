//! HLS packaging (being written).
