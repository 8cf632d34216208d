namespace PmemFs.Media;

/// <summary>
/// A media region could not be opened, created, mapped or queried. The message names the
/// path and, when libpmem2 was the one failing, its own error message and code.
/// </summary>
public sealed class MediaException : IOException
{
    public MediaException() { }

    public MediaException(string message) : base(message) { }

    public MediaException(string message, Exception innerException) : base(message, innerException) { }

    public MediaException(string path, string message, int? pmem2Error = null, Exception? innerException = null)
        : base($"{path}: {message}", innerException)
    {
        Path = path;
        Pmem2Error = pmem2Error;
    }

    /// <summary>The image file or device the failure is about.</summary>
    public string? Path { get; }

    /// <summary>The libpmem2 return code (PMEM2_E_* or -errno), when libpmem2 failed.</summary>
    public int? Pmem2Error { get; }
}
