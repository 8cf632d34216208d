namespace PmemFs.Fuse;

/// <summary>Who reads requests from /dev/fuse and writes the replies (both mount through libfuse).</summary>
public enum FuseTransport
{
    /// <summary>libfuse 3.14's loop: protocol 7.31.</summary>
    LibFuse,

    /// <summary>PmemFs's own loop (PmemFs.Fuse.Kernel): protocol up to 7.45, HANDLE_KILLPRIV_V2.</summary>
    Kernel,
}
