using static TorchSharp.torch;

namespace Research.Core.Studies.Optimizers;

/// <summary>The 2-D test functions of the optimizers study: the seminar's as its code computes them and
/// as its cell titles name them, the self-study notes', and two standard hard cases.</summary>
public enum TestFunctionKind
{
    /// <summary>x²/10 − y²/10: the seminar's first function as coded (a saddle; its title says x² + y²).</summary>
    SeminarSaddle,

    /// <summary>x²/10·sin x + y²/10·cos y: the seminar's second function as coded.</summary>
    SeminarSine,

    /// <summary>x²/10·sin x + y²/10·sin y: the second function as its title names it.</summary>
    SeminarSineAsTitled,

    /// <summary>x²/10·sin x² + y²/10·cos y²: the seminar's third function as coded.</summary>
    SeminarSineSquared,

    /// <summary>x²/10·sin x² + y²/10·sin y²: the third function as its title names it.</summary>
    SeminarSineSquaredAsTitled,

    /// <summary>x² + y²: the first function as its title names it.</summary>
    Sphere,

    /// <summary>x²/20 + y²: the self-study notes' function ("Deep Learning from Scratch", ch. 6).</summary>
    ElongatedQuadratic,

    /// <summary>(1 − x)² + 100·(y − x²)²: Rosenbrock's valley.</summary>
    Rosenbrock,

    /// <summary>(1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²: Beale's function.</summary>
    Beale,
}

/// <summary>The catalogue of <see cref="TestFunctionKind"/>: each function with its start and rectangle.</summary>
public static class TestFunctions
{
    const string Seminar = "the optimization-methods seminar";
    static readonly (double, double) SeminarStart = (8.0, 0.1);
    static readonly (double, double) Square = (-10.0, 10.0);

    static readonly Dictionary<TestFunctionKind, Lazy<TestFunction>> Catalogue = new()
    {
        [TestFunctionKind.SeminarSaddle] = new(() => new TestFunction("seminar-saddle", "x²/10 − y²/10",
            $"{Seminar}, first function as coded (the cell's title says x² + y²)",
            (x, y) => x * x / 10 - y * y / 10, SeminarStart, Square, Square,
            [new StationaryPoint(0, 0, 0, "saddle")])),
        [TestFunctionKind.SeminarSine] = new(() => new TestFunction("seminar-sine", "x²/10·sin x + y²/10·cos y",
            $"{Seminar}, second function as coded (the title says sin in both terms)",
            (x, y) => x * x / 10 * x.sin() + y * y / 10 * y.cos(), SeminarStart, Square, Square)),
        [TestFunctionKind.SeminarSineAsTitled] = new(() => new TestFunction("seminar-sine-titled", "x²/10·sin x + " +
            "y²/10·sin y",
            $"{Seminar}, second function as its title names it",
            (x, y) => x * x / 10 * x.sin() + y * y / 10 * y.sin(), SeminarStart, Square, Square)),
        [TestFunctionKind.SeminarSineSquared] = new(() => new TestFunction("seminar-sine-squared", "x²/10·sin x² + " +
            "y²/10·cos y²",
            $"{Seminar}, third function as coded (the title says sin in both terms)",
            (x, y) => x * x / 10 * (x * x).sin() + y * y / 10 * (y * y).cos(), SeminarStart, Square, Square)),
        [TestFunctionKind.SeminarSineSquaredAsTitled] = new(() => new TestFunction("seminar-sine-squared-titled",
            "x²/10·sin x² + y²/10·sin y²", $"{Seminar}, third function as its title names it",
            (x, y) => x * x / 10 * (x * x).sin() + y * y / 10 * (y * y).sin(), SeminarStart, Square, Square)),
        [TestFunctionKind.Sphere] = new(() => new TestFunction("sphere", "x² + y²",
            $"{Seminar}, first function as its title names it",
            (x, y) => x * x + y * y, SeminarStart, Square, Square)),
        [TestFunctionKind.ElongatedQuadratic] = new(() => new TestFunction("notes-quadratic", "x²/20 + y²",
            "the self-study notes (Saito, Deep Learning from Scratch, 2016, ch. 6)",
            (x, y) => x * x / 20 + y * y, (-7.0, 2.0), Square, (-5.0, 5.0))),
        [TestFunctionKind.Rosenbrock] = new(() => new TestFunction("rosenbrock", "(1 − x)² + 100·(y − x²)²",
            "Rosenbrock, The Computer Journal 3(3), 1960: a curved, narrow valley",
            (x, y) => (1 - x).square() + 100 * (y - x * x).square(), (-1.2, 1.0), (-2.0, 2.0), (-1.0, 3.0))),
        [TestFunctionKind.Beale] = new(() => new TestFunction("beale", "(1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 " +
            "− x + xy³)²",
            "Beale, 1958 (as in Jamil and Yang, A literature survey of benchmark functions, 2013): flat plateaus, " +
                "steep walls",
            (x, y) => (1.5 - x + x * y).square() + (2.25 - x + x * y * y).square()
                + (2.625 - x + x * y * y * y).square(),
            (1.0, 1.5), (-4.5, 4.5), (-4.5, 4.5))),
    };

    /// <summary>Every kind, in the order of <see cref="TestFunctionKind"/>.</summary>
    public static IReadOnlyList<TestFunctionKind> Kinds { get; } = Enum.GetValues<TestFunctionKind>();

    /// <summary>The function of a kind.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not a member of the enum.</exception>
    public static TestFunction Of(TestFunctionKind kind) =>
        Catalogue.TryGetValue(kind, out var f) ? f.Value
            : throw new ArgumentOutOfRangeException(nameof(kind), kind, "expected a TestFunctionKind member.");

    /// <summary>The kind whose key is <paramref name="key"/> ("rosenbrock", "notes-quadratic", …).</summary>
    /// <exception cref="ArgumentException">No function has that key (the message lists them).</exception>
    public static TestFunctionKind Parse(string key)
    {
        foreach (var kind in Kinds)
            if (string.Equals(Of(kind).Key, key?.Trim(), StringComparison.OrdinalIgnoreCase)) return kind;
        throw new ArgumentException(
            $"test function: expected one of {string.Join(", ", Kinds.Select(k => Of(k).Key))}, got '{key}'.",
            nameof(key));
    }
}
