// phasegen report: one self-contained HTML page (images inline as base64, no external files) from
// an eval directory: the headline figures, the tables, every plot and the run cards.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>

#include "cli_support.hpp"
#include "commands.hpp"
#include "phasegen/core/error.hpp"
#include "phasegen/io/event_io.hpp"

namespace phasegen::cli {

namespace {

struct ReportFlags {
  std::string out;
  std::vector<std::string> cards;
  std::string title = "phasegen evaluation";
};

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  PHASEGEN_CHECK(in.good(), "report: cannot read '", path.string(), "'");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string html_escape(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string base64(const std::string& bytes) {
  static const char* const table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += {table[v >> 18], table[(v >> 12) & 63], table[(v >> 6) & 63], table[v & 63]};
  }
  if (i + 1 == bytes.size()) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    out += {table[v >> 18], table[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += {table[v >> 18], table[(v >> 12) & 63], table[(v >> 6) & 63], '='};
  }
  return out;
}

// "hist_log10_tau_s" -> a caption.
std::string caption(const std::string& stem) {
  if (stem == "dalitz") return "Dalitz plots: truth, each sample set, flat phase space";
  if (stem == "loss") return "training and validation loss";
  if (stem == "evolution") return "the sampling path: one observable at five states, from uniform phase space to the data";
  if (stem.rfind("hist_", 0) == 0) return "distribution of " + stem.substr(5) + ", with its ratio to the truth";
  return stem;
}

void run_report(const ReportFlags& flags) {
  const std::filesystem::path dir(flags.out);
  PHASEGEN_CHECK(std::filesystem::is_directory(dir), "report: '", flags.out,
                 "' is not a directory (run `phasegen eval --out ", flags.out, "` first)");
  const std::filesystem::path table = dir / "eval.txt";
  PHASEGEN_CHECK(std::filesystem::is_regular_file(table), "report: '", table.string(),
                 "' is missing (run `phasegen eval --out ", flags.out, "` first)");
  for (const auto& card : flags.cards) {
    PHASEGEN_CHECK(std::filesystem::is_regular_file(card), "--card: cannot read '", card, "'");
  }
  const std::string printed = read_file(table);
  std::vector<std::filesystem::path> images, cards;
  if (std::filesystem::is_directory(dir / "plots")) {
    for (const auto& entry : std::filesystem::directory_iterator(dir / "plots")) {
      if (entry.path().extension() == ".png" && entry.path().filename().string()[0] != '.') images.push_back(entry.path());
    }
  }
  // Histograms first in name order, then the Dalitz plots, the path and the loss.
  auto rank = [](const std::filesystem::path& p) {
    const std::string s = p.stem().string();
    return s.rfind("hist_", 0) == 0 ? 0 : s == "dalitz" ? 1 : s == "evolution" ? 2 : 3;
  };
  std::sort(images.begin(), images.end(), [&](const auto& a, const auto& b) {
    return rank(a) != rank(b) ? rank(a) < rank(b) : a.filename() < b.filename();
  });
  if (std::filesystem::is_directory(dir / "cards")) {
    for (const auto& entry : std::filesystem::directory_iterator(dir / "cards")) cards.push_back(entry.path());
  }
  for (const auto& card : flags.cards) cards.emplace_back(card);
  std::sort(cards.begin(), cards.end());

  std::ostringstream html;
  html << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" << html_escape(flags.title)
       << "</title>\n<style>\nbody{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}\n"
       << "pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:12px}\n"
       << "figure{display:inline-block;width:48%;margin:0.5%;vertical-align:top}figure img{width:100%}\n"
       << "figcaption{font-size:13px;color:#555}.headline{font-size:15px;background:#eef5ff;padding:0.6em}\n"
       << ".broken{color:#b00;font-weight:bold}\n</style>\n</head>\n<body>\n<h1>" << html_escape(flags.title) << "</h1>\n";
  html << "<p>Written by <code>phasegen report</code> from <code>" << html_escape(flags.out)
       << "</code>. Every figure stands beside its truth-vs-truth floor; a classifier AUC of 0.5 means "
          "the sets cannot be told apart.</p>\n<h2>Headline</h2>\n";
  std::istringstream lines(printed);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("headline", 0) == 0) html << "<div class=\"headline\">" << html_escape(line) << "</div>\n";
  }
  html << "<h2>Tables</h2>\n<pre>" << html_escape(printed) << "</pre>\n<h2>Figures</h2>\n";
  for (const auto& image : images) {
    html << "<figure><img alt=\"" << html_escape(image.stem().string()) << "\" src=\"data:image/png;base64,"
         << base64(read_file(image)) << "\"><figcaption>" << html_escape(caption(image.stem().string()))
         << "</figcaption></figure>\n";
  }
  if (images.empty()) html << "<p>No figures (eval ran with --no-plots).</p>\n";
  html << "<h2>Run cards</h2>\n";
  for (const auto& card : cards) {
    html << "<h3>" << html_escape(card.filename().string()) << "</h3>\n<pre>" << html_escape(read_file(card)) << "</pre>\n";
  }
  if (cards.empty()) html << "<p>No run cards (pass <code>--checkpoint</code> to eval or <code>--card</code> here).</p>\n";
  // Marks the page with how many images decoded, and flags any that did not.
  html << "<script>\nwindow.addEventListener('load',function(){var all=document.images,ok=0;"
          "for(var i=0;i<all.length;i++){if(all[i].complete&&all[i].naturalWidth>0){ok++;}else{"
          "var p=document.createElement('p');p.className='broken';p.textContent='image '+all[i].alt+' did not load';"
          "all[i].parentNode.appendChild(p);}}document.body.setAttribute('data-images-loaded',ok+'/'+all.length);});\n"
          "</script>\n</body>\n</html>\n";
  const std::string path = (dir / "report.html").string();
  write_text_file(path, html.str());
  std::cout << "phasegen report: " << path << " (" << images.size() << " figures, " << cards.size()
            << " run cards, self-contained)\n";
}

}  // namespace

void add_report_command(CLI::App& app) {
  auto flags = std::make_shared<ReportFlags>();
  CLI::App* cmd = app.add_subcommand(
      "report", "One self-contained HTML page (DIR/report.html) with the tables, figures and run cards of `eval --out DIR`");
  cmd->add_option("--out", flags->out, "The eval directory; report.html is written there")->required();
  cmd->add_option("--card", flags->cards, "Also show these run cards (repeatable)");
  cmd->add_option("--title", flags->title, "Page title")->capture_default_str();
  cmd->callback([flags] { run_report(*flags); });
}

}  // namespace phasegen::cli
