using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace PmemFs.Cli.Output;

/// <summary>
/// One JSON document on stdout, written with <see cref="Utf8JsonWriter"/> (no reflection, so
/// --json costs no start-up time).
/// </summary>
public static class Json
{
    private static readonly JsonWriterOptions Options = new()
    {
        Indented = true,
        // Paths and messages stay readable; the output is for scripts, never for an HTML page.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static void Write(TextWriter output, Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var writer = new Utf8JsonWriter(buffer, Options))
        {
            body(writer);
        }
        output.WriteLine(Encoding.UTF8.GetString(buffer.WrittenSpan));
    }
}
