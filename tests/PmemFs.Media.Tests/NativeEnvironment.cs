using System.Runtime.InteropServices;

namespace PmemFs.Media.Tests;

/// <summary>
/// The C library's environment. On Unix, Environment.SetEnvironmentVariable only changes
/// .NET's own copy; libpmem2 calls getenv(), so tests that steer it must go through here.
/// </summary>
internal static partial class NativeEnvironment
{
    [LibraryImport("libc.so.6", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int SetEnv(string name, string value, int overwrite);

    [LibraryImport("libc.so.6", EntryPoint = "unsetenv", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int UnsetEnv(string name);

    [LibraryImport("libc.so.6", EntryPoint = "getenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint GetEnv(string name);

    public static string? Get(string name) => Marshal.PtrToStringUTF8(GetEnv(name));

    public static void Set(string name, string? value)
    {
        int rc = value is null ? UnsetEnv(name) : SetEnv(name, value, 1);
        if (rc != 0) throw new InvalidOperationException($"setenv({name}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Sets a variable for the lifetime of the returned scope, then restores it.</summary>
    public static IDisposable Scoped(string name, string? value)
    {
        string? old = Get(name);
        Set(name, value);
        return new Restore(name, old);
    }

    private sealed class Restore(string name, string? old) : IDisposable
    {
        public void Dispose() => Set(name, old);
    }
}
