namespace PmemFs.Fuse.Kernel;

/// <summary>
/// The inodes whose last attributes sent to the kernel had set-user-ID or set-group-ID. With
/// FUSE_HANDLE_KILLPRIV_V2 the file system clears them itself on a write or fallocate, but
/// those replies carry no attributes and the kernel keeps showing the old mode until its
/// attribute cache expires; for these inodes (and only these: the kernel cannot have cached a
/// set-id bit it was never told of) the transport then drops the cached attributes. The common
/// path checks one volatile count.
/// </summary>
internal static class SetIdInodes
{
    private const uint SetIdBits = 0xC00;
    private static readonly Dictionary<ulong, uint> _inodes = [];
    private static volatile int _count;

    /// <summary>Attributes of <paramref name="ino"/> go to the kernel with <paramref name="mode"/>.</summary>
    public static void Note(ulong ino, uint mode)
    {
        bool setId = (mode & SetIdBits) != 0;
        if (!setId && _count == 0) return;
        lock (_inodes)
        {
            if (setId) _inodes[ino] = mode;
            else _inodes.Remove(ino);
            _count = _inodes.Count;
        }
    }

    /// <summary>The mode last sent for <paramref name="ino"/> if it had set-id bits.</summary>
    public static bool TryGetMode(ulong ino, out uint mode)
    {
        mode = 0;
        if (_count == 0) return false;
        lock (_inodes) return _inodes.TryGetValue(ino, out mode);
    }

    /// <summary>
    /// FATTR_KILL_SUIDGID on a chown or truncate: the mode change the kernel itself sent with it
    /// before HANDLE_KILLPRIV_V2 (suid always, sgid with group execute), from the mode it was
    /// last told; <paramref name="mode"/> is the mode to set, false if there is nothing to kill.
    /// </summary>
    public static bool KilledMode(ulong ino, out uint mode)
    {
        if (!TryGetMode(ino, out uint old)) { mode = 0; return false; }
        mode = old & ~0x800u;
        if ((old & 0x408) == 0x408) mode &= ~0x400u;
        return mode != old;
    }

    /// <summary>True (and forgotten) if the kernel may hold set-id bits of <paramref name="ino"/>.</summary>
    public static bool Take(ulong ino)
    {
        if (_count == 0) return false;
        lock (_inodes)
        {
            bool had = _inodes.Remove(ino);
            _count = _inodes.Count;
            return had;
        }
    }
}
