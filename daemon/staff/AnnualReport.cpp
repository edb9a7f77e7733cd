#include "AnnualReport.h"

#include <cairo-pdf.h>
#include <cairo.h>
#include <pango/pangocairo.h>

#include <algorithm>
#include <array>
#include <memory>

namespace meldpunt::staff {

namespace {

// A4 in PostScript points, with margins of about 2 cm.
constexpr double kPageWidth = 595.0;
constexpr double kPageHeight = 842.0;
constexpr double kMargin = 56.0;
constexpr double kTextWidth = kPageWidth - 2 * kMargin;
constexpr double kBottom = kPageHeight - kMargin;

constexpr double kLabelWidth = 190.0;
constexpr double kCountWidth = 40.0;
// Room for a total with its parts, such as "12 (3 / 0 / 9)".
constexpr double kCountWithPartsWidth = 110.0;
constexpr double kBarHeight = 11.0;
constexpr double kBarGap = 4.0;

// The same colours as the dashboard's charts, as RGB fractions.
constexpr std::array<std::array<double, 3>, 7> kPalette = { { { 0.122, 0.373, 0.545 },
    { 0.878, 0.541, 0.118 }, { 0.235, 0.553, 0.247 }, { 0.690, 0.227, 0.282 },
    { 0.420, 0.298, 0.604 }, { 0.478, 0.478, 0.478 }, { 0.165, 0.631, 0.659 } } };

struct SurfaceCloser {
    void operator()(cairo_surface_t* surface) const { cairo_surface_destroy(surface); }
};
struct ContextCloser {
    void operator()(cairo_t* context) const { cairo_destroy(context); }
};
struct LayoutCloser {
    void operator()(PangoLayout* layout) const { g_object_unref(layout); }
};
struct FontCloser {
    void operator()(PangoFontDescription* font) const { pango_font_description_free(font); }
};
using LayoutPtr = std::unique_ptr<PangoLayout, LayoutCloser>;

cairo_status_t appendToString(void* closure, const unsigned char* data, unsigned int length)
{
    static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
    return CAIRO_STATUS_SUCCESS;
}

// Draws text top to bottom and starts a new page when the next line does
// not fit.
class PageWriter {
public:
    explicit PageWriter(cairo_t* context)
        : context_(context)
    {
    }

    double y() const { return y_; }
    void skip(double points) { y_ += points; }

    void ensureSpace(double points)
    {
        if (y_ + points > kBottom)
            newPage();
    }

    void newPage()
    {
        cairo_show_page(context_);
        y_ = kMargin;
    }

    LayoutPtr layout(const std::string& text, const char* font, double width) const
    {
        LayoutPtr layout(pango_cairo_create_layout(context_));
        std::unique_ptr<PangoFontDescription, FontCloser> description(
            pango_font_description_from_string(font));
        pango_layout_set_font_description(layout.get(), description.get());
        pango_layout_set_width(layout.get(), static_cast<int>(width * PANGO_SCALE));
        pango_layout_set_wrap(layout.get(), PANGO_WRAP_WORD_CHAR);
        pango_layout_set_text(layout.get(), text.c_str(), static_cast<int>(text.size()));
        return layout;
    }

    // Writes a wrapped paragraph line by line, so that a long one runs on
    // over the next pages.
    void paragraph(const std::string& text, const char* font, double after)
    {
        const LayoutPtr laid = layout(text, font, kTextWidth);
        PangoLayoutIter* iterator = pango_layout_get_iter(laid.get());
        do {
            PangoRectangle logical;
            pango_layout_iter_get_line_extents(iterator, nullptr, &logical);
            const double height = static_cast<double>(logical.height) / PANGO_SCALE;
            ensureSpace(height);
            const double baseline
                = static_cast<double>(pango_layout_iter_get_baseline(iterator) - logical.y)
                / PANGO_SCALE;
            cairo_move_to(context_, kMargin, y_ + baseline);
            pango_cairo_show_layout_line(context_, pango_layout_iter_get_line_readonly(iterator));
            y_ += height;
        } while (pango_layout_iter_next_line(iterator));
        pango_layout_iter_free(iterator);
        y_ += after;
    }

    // Writes one line of text at x with its top at y, ending in an ellipsis when wider than
    // `width`.
    void textAt(const std::string& text, double x, double top, double width, const char* font) const
    {
        const LayoutPtr laid = layout(text, font, width);
        pango_layout_set_ellipsize(laid.get(), PANGO_ELLIPSIZE_END);
        cairo_move_to(context_, x, top);
        pango_cairo_show_layout(context_, laid.get());
    }

    cairo_t* context() const { return context_; }

private:
    cairo_t* context_;
    double y_ = kMargin;
};

constexpr const char* kBodyFont = "Sans 10";
constexpr const char* kSmallFont = "Sans 8";
constexpr const char* kHeadingFont = "Sans Bold 13";
constexpr const char* kTitleFont = "Sans Bold 20";

void setColour(cairo_t* context, std::size_t column)
{
    const auto& colour = kPalette[column % kPalette.size()];
    cairo_set_source_rgb(context, colour[0], colour[1], colour[2]);
}

void drawLegend(PageWriter& page, const FigureSection& section)
{
    cairo_t* context = page.context();
    for (std::size_t column = 0; column < section.columns.size(); ++column) {
        page.ensureSpace(14);
        setColour(context, column);
        cairo_rectangle(context, kMargin, page.y() + 2, 8, 8);
        cairo_fill(context);
        cairo_set_source_rgb(context, 0, 0, 0);
        page.textAt(section.columns[column], kMargin + 14, page.y(), kTextWidth - 14, kSmallFont);
        page.skip(12);
    }
    page.skip(4);
}

// The count beside a bar: its total, and with several columns its parts
// in the legend's order.
std::string countText(const FigureRow& row, bool withParts)
{
    std::string text = std::to_string(row.total());
    if (!withParts || row.total() == 0)
        return text;
    text += " (";
    for (std::size_t column = 0; column < row.values.size(); ++column)
        text += (column == 0 ? "" : " / ") + std::to_string(row.values[column]);
    return text + ")";
}

// The chart, with each bar's label and count beside it, so that the
// figures are in the text as well as in the drawing.
void drawChart(PageWriter& page, const FigureSection& section)
{
    cairo_t* context = page.context();
    std::int64_t maximum = 1;
    for (const auto& row : section.rows)
        maximum = std::max(maximum, row.total());
    const bool withParts = section.columns.size() > 1;
    if (withParts)
        drawLegend(page, section);
    const double countWidth = withParts ? kCountWithPartsWidth : kCountWidth;
    const double barSpace = kTextWidth - kLabelWidth - countWidth;
    for (const auto& row : section.rows) {
        page.ensureSpace(kBarHeight + kBarGap);
        const double top = page.y();
        cairo_set_source_rgb(context, 0, 0, 0);
        page.textAt(row.label, kMargin, top - 1, kLabelWidth - 6, kSmallFont);
        double x = kMargin + kLabelWidth;
        for (std::size_t column = 0; column < row.values.size(); ++column) {
            const double width
                = barSpace * static_cast<double>(row.values[column]) / static_cast<double>(maximum);
            if (width <= 0)
                continue;
            setColour(context, column);
            cairo_rectangle(context, x, top, width, kBarHeight);
            cairo_fill(context);
            x += width;
        }
        cairo_set_source_rgb(context, 0, 0, 0);
        page.textAt(countText(row, withParts), x + 4, top - 1, countWidth, kSmallFont);
        page.skip(kBarHeight + kBarGap);
    }
}

void writeParagraphs(PageWriter& page, const std::string& text)
{
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find("\n\n", start);
        if (end == std::string::npos)
            end = text.size();
        std::string paragraph = text.substr(start, end - start);
        std::erase(paragraph, '\r');
        if (paragraph.find_first_not_of(" \n\t") != std::string::npos)
            page.paragraph(paragraph, kBodyFont, 6);
        start = end + 2;
    }
}

std::string translated(const AnnualReportContent& content, const char* english)
{
    return content.catalog ? content.catalog->translate(content.language, english) : english;
}

void writeReport(PageWriter& page, const AnnualReportContent& content)
{
    page.paragraph(translated(content, N_("Annual report")) + " " + std::to_string(content.year),
        kTitleFont, 2);
    if (!content.organisation.empty())
        page.paragraph(content.organisation, kHeadingFont, 10);
    writeParagraphs(page, content.coordinatorText);

    page.skip(6);
    page.paragraph(translated(content, N_("Figures")), kHeadingFont, 4);
    page.paragraph(translated(content, N_("Reports received:")) + " "
            + std::to_string(content.summary.reports),
        kBodyFont, 0);
    page.paragraph(translated(content, N_("Site visits (page views):")) + " "
            + std::to_string(content.summary.visits),
        kBodyFont, 0);
    page.paragraph(translated(content, N_("Acknowledged within the deadline:")) + " "
            + (content.summary.inTimePercent < 0
                    ? translated(content, N_("no acknowledgement recorded"))
                    : std::to_string(content.summary.inTimePercent) + "%"),
        kBodyFont, 10);

    for (const auto& section : content.sections) {
        // A heading is never left alone at the foot of a page.
        page.ensureSpace(60);
        page.paragraph(section.title, kHeadingFont, 4);
        if (section.rows.empty()) {
            page.paragraph(translated(content, N_("None recorded.")), kBodyFont, 10);
            continue;
        }
        drawChart(page, section);
        page.skip(10);
    }
}

} // namespace

std::string annualReportPdf(const AnnualReportContent& content)
{
    std::string pdf;
    std::unique_ptr<cairo_surface_t, SurfaceCloser> surface(
        cairo_pdf_surface_create_for_stream(appendToString, &pdf, kPageWidth, kPageHeight));
    if (cairo_surface_status(surface.get()) != CAIRO_STATUS_SUCCESS)
        throw AnnualReportError(std::string("creating the PDF surface failed: ")
            + cairo_status_to_string(cairo_surface_status(surface.get())));
    const std::string title
        = translated(content, N_("Annual report")) + " " + std::to_string(content.year);
    cairo_pdf_surface_set_metadata(surface.get(), CAIRO_PDF_METADATA_TITLE, title.c_str());
    {
        std::unique_ptr<cairo_t, ContextCloser> context(cairo_create(surface.get()));
        PageWriter page(context.get());
        writeReport(page, content);
        cairo_show_page(context.get());
        if (cairo_status(context.get()) != CAIRO_STATUS_SUCCESS)
            throw AnnualReportError(std::string("drawing the annual report failed: ")
                + cairo_status_to_string(cairo_status(context.get())));
    }
    cairo_surface_finish(surface.get());
    if (cairo_surface_status(surface.get()) != CAIRO_STATUS_SUCCESS)
        throw AnnualReportError(std::string("writing the PDF failed: ")
            + cairo_status_to_string(cairo_surface_status(surface.get())));
    return pdf;
}

} // namespace meldpunt::staff
