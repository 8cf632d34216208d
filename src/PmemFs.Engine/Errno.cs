namespace PmemFs.Engine;

/// <summary>A Linux errno value; <see cref="Ok"/> (0) is success. Hot paths return this, not exceptions.</summary>
public readonly record struct Errno(int Value)
{
    public static readonly Errno Ok = new(0);
    public static readonly Errno EPERM = new(1);
    public static readonly Errno ENOENT = new(2);
    public static readonly Errno EIO = new(5);
    public static readonly Errno EBADF = new(9);
    public static readonly Errno EAGAIN = new(11);
    public static readonly Errno EACCES = new(13);
    public static readonly Errno EBUSY = new(16);
    public static readonly Errno EEXIST = new(17);
    public static readonly Errno EXDEV = new(18);
    public static readonly Errno ENOTDIR = new(20);
    public static readonly Errno EISDIR = new(21);
    public static readonly Errno EINVAL = new(22);
    public static readonly Errno ETXTBSY = new(26);
    public static readonly Errno EFBIG = new(27);
    public static readonly Errno ENOSPC = new(28);
    public static readonly Errno EROFS = new(30);
    public static readonly Errno EMLINK = new(31);
    public static readonly Errno ERANGE = new(34);
    public static readonly Errno ENAMETOOLONG = new(36);
    public static readonly Errno ENOSYS = new(38);
    public static readonly Errno ENOTEMPTY = new(39);
    public static readonly Errno ENODATA = new(61);
    public static readonly Errno EOVERFLOW = new(75);
    public static readonly Errno EOPNOTSUPP = new(95);
    public static readonly Errno ENXIO = new(6);
    public static readonly Errno ENODEV = new(19);
    public static readonly Errno E2BIG = new(7);
    public static readonly Errno ENOTTY = new(25);
    public static readonly Errno ESTALE = new(116);

    /// <summary>Structure needs cleaning: the metadata a file's answer depends on is damaged (XFS's answer too).</summary>
    public static readonly Errno EUCLEAN = new(117);

    /// <summary>
    /// Not a Linux errno and never for the kernel (like the kernel's own ERESTARTSYS, 512): a
    /// layout-changing operation found leases to recall, changed nothing, and must be issued
    /// again once <see cref="Leases.LeaseTable.WhenBreaksEnd(ulong)"/> completes (at the latest
    /// after the break time). docs/leases.md says how the daemon does that off its loop.
    /// </summary>
    public static readonly Errno RetryAfterRecall = new(1000);

    /// <summary>An engine-internal answer that must not be sent to the kernel.</summary>
    public bool IsInternal => Value >= 512;

    public bool IsOk => Value == 0;
    public bool Failed => Value != 0;

    public override string ToString() => Value switch
    {
        0 => "OK", 1 => "EPERM", 2 => "ENOENT", 5 => "EIO", 6 => "ENXIO", 7 => "E2BIG", 9 => "EBADF", 11 => "EAGAIN", 13 => "EACCES", 16 => "EBUSY",
        17 => "EEXIST", 18 => "EXDEV", 19 => "ENODEV", 20 => "ENOTDIR", 21 => "EISDIR", 22 => "EINVAL", 25 => "ENOTTY", 26 => "ETXTBSY",
        27 => "EFBIG", 28 => "ENOSPC", 30 => "EROFS", 31 => "EMLINK", 34 => "ERANGE", 36 => "ENAMETOOLONG", 38 => "ENOSYS",
        39 => "ENOTEMPTY", 61 => "ENODATA", 75 => "EOVERFLOW", 95 => "EOPNOTSUPP", 116 => "ESTALE", 117 => "EUCLEAN", 1000 => "retry after recall (internal)",
        _ => $"errno {Value}",
    };
}

/// <summary>Thrown inside the engine to unwind an operation with an errno; caught at the operation boundary.</summary>
internal sealed class ErrnoException(Errno errno) : Exception(errno.ToString())
{
    public Errno Errno { get; } = errno;
}
