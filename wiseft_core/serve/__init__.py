"""What the app needs from the library: live models shared by a room, grids, launch options, private uploads."""
