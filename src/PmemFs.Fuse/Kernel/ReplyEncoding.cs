using PmemFs.Fuse.Native;

namespace PmemFs.Fuse.Kernel;

/// <summary>libfuse's conversions of its reply arguments into protocol structs (fill_entry, convert_stat, fill_open, ...).</summary>
public static unsafe class ReplyEncoding
{
    public static ulong TimeoutSeconds(double t) => t > ulong.MaxValue ? ulong.MaxValue : t < 0 ? 0 : (ulong)t;

    public static uint TimeoutNanoseconds(double t)
    {
        double f = t - TimeoutSeconds(t);
        if (f < 0) return 0;
        if (f >= 0.999999999) return 999999999;
        return (uint)(f * 1.0e9);
    }

    public static void FillAttr(in Stat st, out Attr a)
    {
        a = new Attr
        {
            Ino = st.Ino,
            Mode = st.Mode,
            Nlink = (uint)st.Nlink,
            Uid = st.Uid,
            Gid = st.Gid,
            Rdev = (uint)st.Rdev,
            Size = (ulong)st.Size,
            BlkSize = (uint)st.BlkSize,
            Blocks = (ulong)st.Blocks,
            Atime = (ulong)st.AtimeSec,
            Mtime = (ulong)st.MtimeSec,
            Ctime = (ulong)st.CtimeSec,
            AtimeNsec = (uint)st.AtimeNsec,
            MtimeNsec = (uint)st.MtimeNsec,
            CtimeNsec = (uint)st.CtimeNsec,
        };
    }

    /// <summary>STATX_BASIC_STATS | STATX_BTIME: every field getattr has, and the birth time.</summary>
    public const uint StatxBasicAndBtime = 0x7FF | 0x800;

    /// <summary>
    /// fuse_statx from a getattr <see cref="Stat"/> and the birth time. stx_attributes stays 0:
    /// the kernel drops it for FUSE whatever the daemon says (FUSE-FACTS), so lsattr remains the
    /// way to see the flags. rdev is glibc's dev_t (major in bits 8-19 and 32-43).
    /// </summary>
    public static void FillStatx(in Stat st, long btimeSec, long btimeNsec, out FuseStatx x)
    {
        ulong dev = st.Rdev;
        x = new FuseStatx
        {
            Mask = StatxBasicAndBtime,
            BlkSize = (uint)st.BlkSize,
            Nlink = (uint)st.Nlink,
            Uid = st.Uid,
            Gid = st.Gid,
            Mode = (ushort)st.Mode,
            Ino = st.Ino,
            Size = (ulong)st.Size,
            Blocks = (ulong)st.Blocks,
            Atime = new SxTime { Sec = st.AtimeSec, Nsec = (uint)st.AtimeNsec },
            Mtime = new SxTime { Sec = st.MtimeSec, Nsec = (uint)st.MtimeNsec },
            Ctime = new SxTime { Sec = st.CtimeSec, Nsec = (uint)st.CtimeNsec },
            Btime = new SxTime { Sec = btimeSec, Nsec = (uint)btimeNsec },
            RdevMajor = (uint)(((dev >> 8) & 0xFFF) | ((dev >> 32) & 0xFFFFF000)),
            RdevMinor = (uint)((dev & 0xFF) | ((dev >> 12) & 0xFFFFFF00)),
        };
    }

    public static void FillEntry(in FuseEntryParam e, out EntryOut o)
    {
        o = new EntryOut
        {
            NodeId = e.Ino,
            Generation = e.Generation,
            EntryValid = TimeoutSeconds(e.EntryTimeout),
            EntryValidNsec = TimeoutNanoseconds(e.EntryTimeout),
            AttrValid = TimeoutSeconds(e.AttrTimeout),
            AttrValidNsec = TimeoutNanoseconds(e.AttrTimeout),
        };
        FillAttr(e.Attr, out o.Attr);
    }

    public static void FillOpen(FuseFileInfo* fi, out OpenOut o)
    {
        uint bits = fi->Bits, flags = 0;
        if ((bits & FuseFileInfo.DirectIo) != 0) flags |= ProtocolFlags.FopenDirectIo;
        if ((bits & FuseFileInfo.KeepCache) != 0) flags |= ProtocolFlags.FopenKeepCache;
        if ((bits & FuseFileInfo.CacheReaddir) != 0) flags |= ProtocolFlags.FopenCacheDir;
        if ((bits & FuseFileInfo.NonSeekable) != 0) flags |= ProtocolFlags.FopenNonseekable;
        if ((bits & FuseFileInfo.NoFlush) != 0) flags |= ProtocolFlags.FopenNoflush;
        o = new OpenOut { Fh = fi->Fh, OpenFlags = flags };
    }

    public static void FillStatFs(in StatVfs s, out StatFsOut o)
    {
        o = default;
        o.Bsize = (uint)s.BlockSize;
        o.Frsize = (uint)s.FragmentSize;
        o.Blocks = s.Blocks;
        o.Bfree = s.BlocksFree;
        o.Bavail = s.BlocksAvailable;
        o.Files = s.Files;
        o.Ffree = s.FilesFree;
        o.NameLen = (uint)s.NameMax;
    }

    /// <summary>libfuse's convert_attr: a setattr request as the struct stat handed to setattr.</summary>
    public static void FillSetAttrStat(in SetAttrIn a, out Stat st)
    {
        st = default;
        st.Mode = a.Mode;
        st.Uid = a.Uid;
        st.Gid = a.Gid;
        st.Size = (long)a.Size;
        st.AtimeSec = (long)a.Atime;
        st.MtimeSec = (long)a.Mtime;
        st.CtimeSec = (long)a.Ctime;
        st.AtimeNsec = a.AtimeNsec;
        st.MtimeNsec = a.MtimeNsec;
        st.CtimeNsec = a.CtimeNsec;
    }

    private const int NameOffset = 24, NameOffsetPlus = 152;

    private static int Align8(int n) => (n + 7) & ~7;

    /// <summary>fuse_add_direntry: the padded size of an entry (written only if it fits).</summary>
    public static int AddDirent(Span<byte> buffer, ReadOnlySpan<byte> name, ulong ino, uint mode, long nextOffset)
    {
        int size = Align8(NameOffset + name.Length);
        if (size > buffer.Length) return size;
        fixed (byte* b = buffer)
        {
            *(Dirent*)b = new Dirent { Ino = ino, Off = (ulong)nextOffset, NameLen = (uint)name.Length, Type = (mode & 0xF000) >> 12 };
            WriteName(b + NameOffset, name, size - NameOffset);
        }
        return size;
    }

    /// <summary>fuse_add_direntry_plus: the padded size of an entry with its lookup (written only if it fits).</summary>
    public static int AddDirentPlus(Span<byte> buffer, ReadOnlySpan<byte> name, in FuseEntryParam e, long nextOffset)
    {
        int size = Align8(NameOffsetPlus + name.Length);
        if (size > buffer.Length) return size;
        fixed (byte* b = buffer)
        {
            var dp = (DirentPlus*)b;
            if (e.Ino != 0) SetIdInodes.Note(e.Ino, e.Attr.Mode);
            FillEntry(e, out dp->Entry);
            dp->Dirent = new Dirent { Ino = e.Attr.Ino, Off = (ulong)nextOffset, NameLen = (uint)name.Length, Type = (e.Attr.Mode & 0xF000) >> 12 };
            WriteName(b + NameOffsetPlus, name, size - NameOffsetPlus);
        }
        return size;
    }

    private static void WriteName(byte* at, ReadOnlySpan<byte> name, int room)
    {
        var dest = new Span<byte>(at, room);
        name.CopyTo(dest);
        dest[name.Length..].Clear();
    }
}
