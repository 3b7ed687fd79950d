"""Why a mix works: where theta(alpha) looks, which images flip along alpha, the loss landscape, per-block change."""
