using PmemFs.Direct.Native;

namespace PmemFs.Direct;

/// <summary>
/// A direct-access call the mount or the region refused: <see cref="Errno"/> is what the daemon or
/// the system answered (0 when the library itself refused), the message says what to do.
/// </summary>
public class DirectAccessException : IOException
{
    /// <summary>A refusal with its errno (0: the library's own).</summary>
    public DirectAccessException(string message, int errno = 0) : base(message) => Errno = errno;

    /// <summary>A refusal without details.</summary>
    public DirectAccessException() : this("direct access failed") { }

    /// <summary>A refusal caused by <paramref name="inner"/>.</summary>
    public DirectAccessException(string message, Exception inner) : base(message, inner) { }

    /// <summary>The errno of the refusal (EAGAIN: a conflicting lease; ETXTBSY, EACCES, ...), 0 if none.</summary>
    public int Errno { get; }

    internal static DirectAccessException FromErrno(string what, int errno, string? hint = null) =>
        new($"{what}: {LibC.Describe(errno)}{(hint is null ? "" : $" ({hint})")}", errno);
}

/// <summary>The lease behind a mapping was recalled and given back, or revoked: the mapping is gone.</summary>
public sealed class LeaseRevokedException : DirectAccessException
{
    /// <summary>The mapping or lease is gone, and why.</summary>
    public LeaseRevokedException(string message) : base(message) { }

    /// <summary>The mapping or lease is gone.</summary>
    public LeaseRevokedException() : this("the lease was revoked") { }

    /// <summary>The mapping or lease is gone, because of <paramref name="inner"/>.</summary>
    public LeaseRevokedException(string message, Exception inner) : base(message, inner) { }
}
