using System.Collections;
using System.Globalization;
using System.Text.Json;
using TorchSharp.Modules;

namespace Research.Core.Optim;

/// <summary>
/// Builds an <see cref="Optimizer"/> from its <see cref="OptimizerKind"/> (or its name, as read from a
/// configuration file) and a dictionary of hyperparameters under PyTorch's names.
/// </summary>
public static class Optimizers
{
    static readonly Dictionary<OptimizerKind, IReadOnlyList<string>> Keys = new()
    {
        [OptimizerKind.SGD] = ["momentum", "dampening", "weight_decay", "nesterov", "maximize"],
        [OptimizerKind.Adagrad] = ["lr_decay", "weight_decay", "initial_accumulator_value", "eps", "maximize"],
        [OptimizerKind.Adadelta] = ["rho", "eps", "weight_decay", "maximize"],
        [OptimizerKind.RMSprop] = ["alpha", "eps", "weight_decay", "momentum", "centered", "maximize"],
        [OptimizerKind.Adam] = ["betas", "beta1", "beta2", "eps", "weight_decay", "amsgrad", "maximize"],
        [OptimizerKind.AdamW] = ["betas", "beta1", "beta2", "eps", "weight_decay", "amsgrad", "maximize"],
        [OptimizerKind.RAdam] = ["betas", "beta1", "beta2", "eps", "weight_decay", "maximize"],
    };

    /// <summary>The optimizer names the string overload of <c>Create</c> accepts (case-insensitive),
    /// with the hyperparameter keys each takes besides "lr" and "fused_multiply_add".</summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<string>> Known { get; } =
        new Dictionary<string, IReadOnlyList<string>>(
            Keys.Select(kv => KeyValuePair.Create(kv.Key.ToString(), kv.Value)), StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// The kind named <paramref name="name"/> ("SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW",
    /// "RAdam"; case-insensitive, surrounding spaces ignored), as read from a configuration file.
    /// </summary>
    /// <param name="name">Optimizer name.</param>
    /// <exception cref="ArgumentException">Not one of the names (the message lists them).</exception>
    public static OptimizerKind ParseKind(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        // Not Enum.TryParse: it would also accept numbers ("4") and comma lists of names.
        foreach (var kind in Enum.GetValues<OptimizerKind>())
            if (string.Equals(kind.ToString(), name.Trim(), StringComparison.OrdinalIgnoreCase))
                return kind;
        throw new ArgumentException(
            $"optimizer name: expected one of {string.Join(", ", Enum.GetNames<OptimizerKind>())} (case-insensitive), " +
            $"got '{name}'.", nameof(name));
    }

    /// <summary>
    /// Creates optimizer <paramref name="name"/> ("SGD", "Adagrad", "Adadelta", "RMSprop", "Adam",
    /// "AdamW", "RAdam"; case-insensitive) over <paramref name="parameters"/>: the form for configuration
    /// files. See <see cref="Create(OptimizerKind, IEnumerable{Parameter}, IDictionary{string, object}?)"/>.
    /// </summary>
    /// <param name="name">Optimizer name.</param>
    /// <param name="parameters">Parameters to optimise.</param>
    /// <param name="hyperparameters">Values under PyTorch's keys (see the other overload). Null: all defaults.</param>
    /// <exception cref="ArgumentException">An unknown name (the message lists the valid ones) or key, a value
    /// of the wrong type, a missing SGD learning rate, or a value out of range.</exception>
    public static Optimizer Create(string name, IEnumerable<Parameter> parameters,
        IDictionary<string, object>? hyperparameters = null) =>
        Create(ParseKind(name), parameters, hyperparameters);

    /// <summary>
    /// Creates the optimizer <paramref name="kind"/> over <paramref name="parameters"/>. Missing
    /// hyperparameters take PyTorch 1.13's defaults (SGD has none for "lr", which is then required).
    /// </summary>
    /// <param name="kind">Which optimizer.</param>
    /// <param name="parameters">Parameters to optimise.</param>
    /// <param name="hyperparameters">Values under PyTorch's keys ("lr", "momentum", "betas", …; "betas"
    /// as a two-element array or as "beta1"/"beta2"; plus "fused_multiply_add"). Numbers may be any
    /// numeric type or a <see cref="JsonElement"/>; flags a bool or a JSON true/false. Null: all defaults.</param>
    /// <exception cref="ArgumentException">An unknown kind or key, a value of the wrong type, a missing
    /// SGD learning rate, or a value out of range.</exception>
    public static Optimizer Create(OptimizerKind kind, IEnumerable<Parameter> parameters,
        IDictionary<string, object>? hyperparameters = null)
    {
        if (!Keys.TryGetValue(kind, out var keys))
            throw new ArgumentException(
                $"optimizer kind: expected one of {string.Join(", ", Enum.GetNames<OptimizerKind>())}, got {(int)kind}.",
                nameof(kind));
        var canonical = kind.ToString();
        var h = new Dictionary<string, object>(hyperparameters ?? new Dictionary<string, object>(),
            StringComparer.Ordinal);
        foreach (var key in h.Keys)
            if (key != "lr" && key != "fused_multiply_add" && !keys.Contains(key))
                throw new ArgumentException(
                    $"{canonical}: hyperparameter '{key}' is not one of lr, fused_multiply_add, {string.Join(", ", keys)}. " +
                    "Remove it or check the spelling (PyTorch's names are used).", nameof(hyperparameters));
        if (h.ContainsKey("betas") && (h.ContainsKey("beta1") || h.ContainsKey("beta2")))
            throw new ArgumentException($"{canonical}: give either 'betas' or 'beta1'/'beta2', not both.",
                nameof(hyperparameters));

        double D(string key, double fallback) => h.TryGetValue(key, out var v) ? ToDouble(canonical, key, v) : fallback;
        bool B(string key, bool fallback) => h.TryGetValue(key, out var v) ? ToBool(canonical, key, v) : fallback;
        (double, double) Betas()
        {
            if (!h.TryGetValue("betas", out var v)) return (D("beta1", 0.9), D("beta2", 0.999));
            var list = ToDoubles(canonical, "betas", v);
            if (list.Count != 2)
                throw new ArgumentException($"{canonical}: betas: expected two numbers (beta1, beta2), got {list.Count}.",
                    nameof(hyperparameters));
            return (list[0], list[1]);
        }

        Optimizer opt;
        switch (kind)
        {
            case OptimizerKind.SGD:
                if (!h.ContainsKey("lr"))
                    throw new ArgumentException(
                        "SGD: lr: expected a learning rate (PyTorch 1.13's SGD has no default), got none. Add \"lr\".",
                        nameof(hyperparameters));
                opt = new Sgd(parameters, D("lr", 0), D("momentum", 0), D("dampening", 0), D("weight_decay", 0),
                    B("nesterov", false), B("maximize", false));
                break;
            case OptimizerKind.Adagrad:
                opt = new Adagrad(parameters, D("lr", 1e-2), D("lr_decay", 0), D("weight_decay", 0),
                    D("initial_accumulator_value", 0), D("eps", 1e-10), B("maximize", false));
                break;
            case OptimizerKind.Adadelta:
                opt = new Adadelta(parameters, D("lr", 1.0), D("rho", 0.9), D("eps", 1e-6), D("weight_decay", 0),
                    B("maximize", false));
                break;
            case OptimizerKind.RMSprop:
                opt = new RmsProp(parameters, D("lr", 1e-2), D("alpha", 0.99), D("eps", 1e-8), D("weight_decay", 0),
                    D("momentum", 0), B("centered", false), B("maximize", false));
                break;
            case OptimizerKind.Adam:
            {
                var (b1, b2) = Betas();
                opt = new Adam(parameters, D("lr", 1e-3), b1, b2, D("eps", 1e-8), D("weight_decay", 0),
                    B("amsgrad", false), B("maximize", false));
                break;
            }
            case OptimizerKind.AdamW:
            {
                var (b1, b2) = Betas();
                opt = new AdamW(parameters, D("lr", 1e-3), b1, b2, D("eps", 1e-8), D("weight_decay", 1e-2),
                    B("amsgrad", false), B("maximize", false));
                break;
            }
            default:
            {
                var (b1, b2) = Betas();
                opt = new RAdam(parameters, D("lr", 1e-3), b1, b2, D("eps", 1e-8), D("weight_decay", 0),
                    B("maximize", false));
                break;
            }
        }
        opt.FusedMultiplyAdd = B("fused_multiply_add", true);
        return opt;
    }

    static double ToDouble(string opt, string key, object v)
    {
        switch (v)
        {
            case double d: return d;
            case float f: return f;
            case int i: return i;
            case long l: return l;
            case decimal m: return (double)m;
            case JsonElement { ValueKind: JsonValueKind.Number } e: return e.GetDouble();
            case string s when double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var p): return p;
            default:
                throw new ArgumentException($"{opt}: {key}: expected a number, got {Describe(v)}.", "hyperparameters");
        }
    }

    static bool ToBool(string opt, string key, object v) => v switch
    {
        bool b => b,
        JsonElement { ValueKind: JsonValueKind.True } => true,
        JsonElement { ValueKind: JsonValueKind.False } => false,
        _ => throw new ArgumentException($"{opt}: {key}: expected true or false, got {Describe(v)}.", "hyperparameters"),
    };

    static List<double> ToDoubles(string opt, string key, object v)
    {
        if (v is JsonElement { ValueKind: JsonValueKind.Array } e)
            return e.EnumerateArray().Select(x => ToDouble(opt, key, x)).ToList();
        if (v is ValueTuple<double, double> t) return [t.Item1, t.Item2];
        if (v is Tuple<double, double> t2) return [t2.Item1, t2.Item2];
        if (v is IEnumerable seq and not string)
            return seq.Cast<object>().Select(x => ToDouble(opt, key, x)).ToList();
        throw new ArgumentException($"{opt}: {key}: expected two numbers, got {Describe(v)}.", "hyperparameters");
    }

    static string Describe(object? v) => v switch
    {
        null => "null",
        JsonElement e => $"JSON {e.ValueKind} {e.GetRawText()}",
        _ => $"{v.GetType().Name} {v}",
    };
}
