using System.Runtime.InteropServices;

namespace PmemFs.Fuse.Kernel;

/// <summary>
/// <c>-o debug</c> on the kernel transport: one line per request read and per message written,
/// in libfuse's form (<c>unique: 4, opcode: LOOKUP (1), nodeid: 1, insize: 45, pid: 812</c>,
/// then <c>   unique: 4, error: -2 (No such file or directory), outsize: 16</c> or
/// <c>   unique: 4, success, outsize: 144</c>), so that a
/// trace reads the same whichever transport served the mount. Off (null) by default: nothing
/// is formatted unless asked for.
/// </summary>
internal sealed unsafe class DebugTrace
{
    /// <summary>Written with write(2) on descriptor 2, a line at a time: unbuffered, so a line is in the log (where a background daemon's stderr points) when its request is, and lines of several workers never mix.</summary>
    private const int StandardError = 2;

    /// <summary>The trace of the connection this process serves, or null when -o debug is off.</summary>
    public static volatile DebugTrace? Current;

    public void Request(InHeader* h, int read) =>
        WriteLine($"unique: {h->Unique}, opcode: {Name((Opcode)h->Opcode)} ({h->Opcode}), nodeid: {h->NodeId}, insize: {read}, pid: {h->Pid}");

    /// <summary>A reply (unique not 0) or a notification (unique 0, the code in the error field).</summary>
    public void Message(in OutHeader h)
    {
        if (h.Unique == 0)
        {
            WriteLine($"   NOTIFY: code={h.Error} length={h.Len}");
            return;
        }
        WriteLine(h.Error == 0
            ? $"   unique: {h.Unique}, success, outsize: {h.Len}"
            : $"   unique: {h.Unique}, error: {h.Error} ({Marshal.GetPInvokeErrorMessage(-h.Error)}), outsize: {h.Len}");
    }

    private static void WriteLine(string line)
    {
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(line + "\n");
        fixed (byte* p = bytes) _ = Posix.Write(StandardError, p, (nuint)bytes.Length);
    }

    private static string Name(Opcode op) => Enum.IsDefined(op) ? op.ToString().ToUpperInvariant() : "UNKNOWN";
}
