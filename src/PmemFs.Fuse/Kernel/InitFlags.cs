namespace PmemFs.Fuse.Kernel;

/// <summary>FUSE_INIT flags (fuse_init_in/out flags, and flags2 shifted up by 32 with FUSE_INIT_EXT).</summary>
[Flags]
public enum InitFlags : ulong
{
    AsyncRead = 1UL << 0,
    PosixLocks = 1UL << 1,
    FileOps = 1UL << 2,
    AtomicOTrunc = 1UL << 3,
    ExportSupport = 1UL << 4,
    BigWrites = 1UL << 5,
    DontMask = 1UL << 6,
    SpliceWrite = 1UL << 7,
    SpliceMove = 1UL << 8,
    SpliceRead = 1UL << 9,
    FlockLocks = 1UL << 10,
    HasIoctlDir = 1UL << 11,
    AutoInvalData = 1UL << 12,
    DoReaddirplus = 1UL << 13,
    ReaddirplusAuto = 1UL << 14,
    AsyncDio = 1UL << 15,
    WritebackCache = 1UL << 16,
    NoOpenSupport = 1UL << 17,
    ParallelDirops = 1UL << 18,
    HandleKillpriv = 1UL << 19,
    PosixAcl = 1UL << 20,
    AbortError = 1UL << 21,
    MaxPages = 1UL << 22,
    CacheSymlinks = 1UL << 23,
    NoOpendirSupport = 1UL << 24,
    ExplicitInvalData = 1UL << 25,
    MapAlignment = 1UL << 26,
    Submounts = 1UL << 27,
    HandleKillprivV2 = 1UL << 28,
    SetxattrExt = 1UL << 29,
    InitExt = 1UL << 30,
    InitReserved = 1UL << 31,
    SecurityCtx = 1UL << 32,
    HasInodeDax = 1UL << 33,
    CreateSuppGroup = 1UL << 34,
    HasExpireOnly = 1UL << 35,
    DirectIoAllowMmap = 1UL << 36,
    Passthrough = 1UL << 37,
    NoExportSupport = 1UL << 38,
    HasResend = 1UL << 39,
    AllowIdmap = 1UL << 40,
    OverIoUring = 1UL << 41,
    RequestTimeout = 1UL << 42,
}

/// <summary>Other flag words of the protocol.</summary>
public static class ProtocolFlags
{
    public const uint GetattrFh = 1 << 0;            // fuse_getattr_in.getattr_flags
    public const uint WriteCache = 1 << 0;           // fuse_write_in.write_flags: writepage
    public const uint WriteLockOwner = 1 << 1;
    public const uint WriteKillSuidgid = 1 << 2;
    public const uint FattrFh = 1 << 6;              // fuse_setattr_in.valid
    public const uint FattrKillSuidgid = 1 << 11;
    public const uint ReleaseFlush = 1 << 0;         // fuse_release_in.release_flags
    public const uint ReleaseFlockUnlock = 1 << 1;
    public const uint FsyncFdatasync = 1 << 0;
    public const uint IoctlDir = 1 << 4;             // fuse_ioctl_in.flags
    public const uint PollScheduleNotify = 1 << 0;   // fuse_poll_in.flags
    public const uint OpenKillSuidgid = 1 << 0;      // fuse_open_in.open_flags

    // fuse_open_out.open_flags
    public const uint FopenDirectIo = 1 << 0, FopenKeepCache = 1 << 1, FopenNonseekable = 1 << 2,
        FopenCacheDir = 1 << 3, FopenStream = 1 << 4, FopenNoflush = 1 << 5;

    public const int SetAttrModeBit = 1 << 0;

    /// <summary>libfuse 3.14 hands setattr only these FUSE_SET_ATTR_* bits (FATTR_FH becomes the fi argument).</summary>
    public const int SetAttrMask = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 7) | (1 << 8) | (1 << 10);
}
